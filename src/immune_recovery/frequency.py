"""How often non-response occurs, and how much that depends on the definition.

Proportion of non-responders under a definition (the contract of the frequency report):
``immunologic_nonresponder / (complete_responder + immunologic_nonresponder)`` when a viral-load
rule applies, else ``cd4_nonresponder / (cd4_responder + cd4_nonresponder)``; ``n_assessable``
is that denominator and ``n_nonresponders`` its numerator. Confidence intervals are Wilson
score intervals (statsmodels ``proportion_confint(method="wilson")``).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import disclosure
from .classify import REASONS, Classification, nonresponder_flags
from .definitions import Definition, parse_definition, published_frequency
from .formatting import captioned, format_ci
from .intervals import cohen_kappa, wilson
from .plots import legend

FREQUENCY_COLUMNS = ["dataset", "definition", "stratum", "n_patients", "n_assessable",
                     "n_nonresponders", "proportion", "ci_low", "ci_high"]


def frequency_table(result: Classification, dataset: str,
                    strata: dict[str, pd.Series] | None = None) -> pd.DataFrame:
    """Non-response frequency per definition, overall and by each stratum level.

    ``strata`` maps a name (e.g. ``arm``) to a per-patient series aligned on
    ``result.patients``; stratum labels read ``name=level``.
    """
    levels: list[tuple[str, np.ndarray]] = [("overall", np.ones(len(result.patients), bool))]
    for name, series in (strata or {}).items():
        values = series.reindex(result.patients)
        categories = (values.cat.categories if isinstance(values.dtype, pd.CategoricalDtype)
                      else sorted(values.dropna().unique(), key=str))
        for level in categories:
            levels.append((f"{name}={level}", (values == level).fillna(False).to_numpy()))
    rows = []
    for def_id in result.results:
        denominator, numerator = nonresponder_flags(result, def_id)
        for label, mask in levels:
            rows.append({"dataset": dataset, "definition": def_id, "stratum": label,
                         "n_patients": int(mask.sum()),
                         "n_assessable": int((denominator & mask).sum()),
                         "n_nonresponders": int((numerator & mask).sum())})
    out = pd.DataFrame(rows, columns=FREQUENCY_COLUMNS[:6])
    out["proportion"], out["ci_low"], out["ci_high"] = wilson(out["n_nonresponders"],
                                                              out["n_assessable"])
    return disclosure.declare(out[FREQUENCY_COLUMNS], partition=["definition", "stratum"],
                              denominators={"proportion": "n_assessable"})


def with_published(frequency: pd.DataFrame, definitions: list[Definition]) -> pd.DataFrame:
    """Overall frequencies beside the published ones (percent), for display."""
    overall = frequency[frequency["stratum"] == "overall"].copy()
    info = {d.id: d for d in definitions}
    overall["rule"] = overall["definition"].map(lambda i: info[i].describe())
    published = {i: published_frequency(info[i]) for i in overall["definition"]}
    overall["published_pct"] = overall["definition"].map(lambda i: published[i][0])
    overall["published_n"] = overall["definition"].map(lambda i: published[i][1])
    overall["percent"] = 100 * overall["proportion"]
    overall["percent_ci"] = [
        format_ci(p, lo, hi, 1, percent=True, dash="-", unit="")
        for p, lo, hi in zip(overall["proportion"], overall["ci_low"], overall["ci_high"],
                             strict=True)]
    out = overall[["definition", "rule", "n_assessable", "n_nonresponders", "percent_ci",
                   "published_pct", "published_n"]].reset_index(drop=True)
    return disclosure.declare(out, labels=["rule", "published_pct", "published_n"],
                              denominators={"percent_ci": "n_assessable"})


def reasons_table(result: Classification) -> pd.DataFrame:
    """Patients not assessable per definition and reason (zeros included)."""
    rows = {d: np.bincount(r.reason, minlength=len(REASONS))[1:]
            for d, r in result.results.items()}
    out = pd.DataFrame.from_dict(rows, orient="index", columns=list(REASONS[1:])) \
        .rename_axis("definition").reset_index()
    return disclosure.declare(out, counts=list(REASONS[1:]))


def agreement(result: Classification, definition_ids: list[str] | None = None,
              min_common: int = 20) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cohen's kappa and overlap between every pair of definitions.

    Both use patients in the denominator of both definitions. ``overlap[a, b]`` is the share
    of a's non-responders that b also classifies as non-responders. Pairs with fewer than
    ``min_common`` patients in common are left empty.
    """
    ids = list(definition_ids or result.results)
    flags = [nonresponder_flags(result, i) for i in ids]
    den = np.column_stack([d for d, _ in flags] or [np.zeros(len(result.patients), bool)])
    num = np.column_stack([d & n for d, n in flags] or [np.zeros(len(result.patients), bool)])
    # every pair's 2x2 counts at once, from products of the 0/1 columns (exact in float64)
    common, both, num_den = (np.rint(a.T.astype(float) @ b.astype(float)).astype(np.int64)
                             for a, b in ((den, den), (num, num), (num, den)))
    kappa = pd.DataFrame(np.nan, index=ids, columns=ids)
    overlap = pd.DataFrame(np.nan, index=ids, columns=ids)
    for i, a in enumerate(ids):
        for j, b in enumerate(ids):
            n = int(common[i, j])
            if n < min_common:
                continue
            # x: a's non-responders among the patients in both denominators, y: b's
            x_sum = num_den[i, j]
            shared, only_x, only_y = both[i, j], x_sum - both[i, j], num_den[j, i] - both[i, j]
            neither = n - shared - only_x - only_y
            kappa.loc[a, b] = cohen_kappa(shared, only_x, only_y, neither)
            if x_sum and not (disclosure.small(shared) or disclosure.small(only_x)):
                overlap.loc[a, b] = shared / x_sum  # published: no share of a small count
    return kappa, overlap


def grid_definitions(rule: str, thresholds: list[float], months: list[float],
                     vl_rule: str = "none", vl_cutoff: float | None = None,
                     vl_sustained_from_month: float | None = None) -> list[Definition]:
    """Definitions over a threshold x month grid (for the frequency heatmap)."""
    out = []
    for month in months:
        for threshold in thresholds:
            entry = {"id": f"grid_{rule}{threshold:g}_m{month:g}", "cd4_rule": rule,
                     "cd4_threshold": threshold, "assessment_month": month, "vl_rule": vl_rule}
            if vl_rule != "none":
                entry["vl_cutoff"] = vl_cutoff
            if vl_rule == "sustained":
                entry["vl_sustained_from_month"] = min(vl_sustained_from_month or 6, month)
            out.append(parse_definition(entry, source="grid"))
    return out


def grid_table(frequency: pd.DataFrame, definitions: list[Definition]) -> pd.DataFrame:
    """Overall percent non-response by threshold (rows) and month (columns); a publication
    table: under disclosure control a cell that reveals a small count is empty."""
    info = {d.id: d for d in definitions}
    overall = frequency[(frequency["stratum"] == "overall")
                        & frequency["definition"].isin(info)].copy()
    overall["threshold"] = overall["definition"].map(lambda i: info[i].criteria[0].threshold)
    overall["month"] = overall["definition"].map(lambda i: info[i].assessment_month)
    shown = pd.to_numeric(disclosure.protect(overall)["proportion"], errors="coerce")
    overall["percent"] = 100 * shown
    return overall.pivot(index="threshold", columns="month", values="percent")


def plot_heatmap(grid: pd.DataFrame, rule_label: str) -> plt.Figure:
    """Heatmap of percent non-response over threshold x month, values written in the cells."""
    fig, ax = plt.subplots(figsize=(1.2 * grid.shape[1] + 2.5, 0.55 * grid.shape[0] + 1.8))
    image = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis_r", vmin=0, vmax=100,
                      aspect="auto")
    ax.set_xticks(range(grid.shape[1]), [f"{m:g}" for m in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [f"{t:g}" for t in grid.index])
    ax.set_xlabel("Months after ART start")
    ax.set_ylabel(f"{rule_label} threshold, cells/mm³")
    ax.grid(False)
    for (i, j), value in np.ndenumerate(grid.to_numpy(dtype=float)):
        if not np.isnan(value):
            ax.text(j, i, f"{value:.0f}%", ha="center", va="center",
                    color="white" if value > 55 else "black", fontsize=9)
    fig.colorbar(image, ax=ax, label="% non-responders")
    fig.tight_layout()
    return fig


def plot_frequencies(display: pd.DataFrame, frequency: pd.DataFrame) -> plt.Figure:
    """Dot plot: percent non-response with 95% CI per definition (published value as x)."""
    overall = frequency[frequency["stratum"] == "overall"].set_index("definition")
    ids = [i for i in display["definition"] if overall.loc[i, "n_assessable"] > 0]
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(ids) + 1.2))
    y = np.arange(len(ids))[::-1]
    p = 100 * overall.loc[ids, "proportion"].to_numpy()
    lo = 100 * overall.loc[ids, "ci_low"].to_numpy()
    hi = 100 * overall.loc[ids, "ci_high"].to_numpy()
    ax.errorbar(p, y, xerr=[np.clip(p - lo, 0, None), np.clip(hi - p, 0, None)], fmt="o",
                color="#4477AA", capsize=2, label="this data set (95% CI)")
    published = display.set_index("definition").loc[ids, "published_pct"].astype(str)
    bounds = published.str.extract(r"^([\d.]+)(?:-([\d.]+))?")
    low_pub = pd.to_numeric(bounds[0], errors="coerce").to_numpy()
    high_pub = pd.to_numeric(bounds[1], errors="coerce").to_numpy()
    single = np.isnan(high_pub)
    ax.plot(low_pub[single], y[single], "x", color="#BB5566", label="published")
    ranged = ~single & ~np.isnan(low_pub)
    if ranged.any():
        ax.hlines(y[ranged], low_pub[ranged], high_pub[ranged], color="#BB5566", linewidth=3,
                  alpha=0.6, label="published range")
    ax.set_yticks(y, ids, fontsize=8)
    ax.set_xlabel("% non-responders")
    ax.set_xlim(0, 100)
    legend(ax, frameon=False, loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_kappa(kappa: pd.DataFrame) -> plt.Figure:
    """Heatmap of Cohen's kappa between definitions."""
    size = 0.3 * len(kappa) + 2.5
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(kappa.to_numpy(dtype=float), cmap="RdBu", vmin=-1, vmax=1)
    ax.set_xticks(range(len(kappa)), kappa.columns, rotation=90, fontsize=7)
    ax.set_yticks(range(len(kappa)), kappa.index, fontsize=7)
    ax.grid(False)
    fig.colorbar(image, ax=ax, label="Cohen's kappa")
    fig.tight_layout()
    return fig


def strata_from(patients: pd.DataFrame, columns: list[str]) -> dict[str, pd.Series]:
    """Stratifying columns of the patient table that exist and have data."""
    return {c: patients[c] for c in columns if c in patients and patients[c].notna().any()}


def by_stratum(frequency: pd.DataFrame, min_assessable: int = 20) -> pd.DataFrame:
    """Percent non-response (95% CI) per definition (rows) and stratum (columns); under
    disclosure control a cell that would reveal a small count shows the marker of
    :func:`immune_recovery.disclosure.publish`."""
    data = frequency.copy()
    shown = disclosure.protect(frequency)["proportion"]
    data["cell"] = [
        "" if n < min_assessable else s if isinstance(s, str)
        else format_ci(p, lo, hi, 0, percent=True, dash="-", unit="")
        for n, p, lo, hi, s in zip(data["n_assessable"], data["proportion"], data["ci_low"],
                                   data["ci_high"], shown, strict=True)]
    table = data.pivot(index="definition", columns="stratum", values="cell")
    order = list(dict.fromkeys(data["stratum"]))
    keep = data.groupby("definition", sort=False)["n_assessable"].max() >= min_assessable
    definitions = [d for d in dict.fromkeys(data["definition"]) if keep[d]]
    return captioned(table.loc[definitions, order],
                     "Percent non-response (95% CI) by definition and stratum")


def grid_analysis(result: Classification, definitions: list[Definition], dataset: str,
                  rule_label: str) -> tuple[pd.DataFrame, plt.Figure]:
    """Percent non-response over a threshold x month grid, as a table and a heatmap."""
    grid = grid_table(frequency_table(result, dataset), definitions)
    return grid, plot_heatmap(grid, rule_label)


def assessable_definitions(frequency: pd.DataFrame, min_assessable: int = 20) -> list[str]:
    overall = frequency[frequency["stratum"] == "overall"]
    return overall.loc[overall["n_assessable"] >= min_assessable, "definition"].tolist()
