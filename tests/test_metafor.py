"""The meta-analysis library against R metafor itself, run in the test (tests/r/
metafor_reference.R): every feature on dat.bcg, a multilevel example
(dat.konstantopoulos2011) and the project's own reference tables, to 1e-4 relative (1e-3 for
the binomial-normal model). Without R and metafor the tests are skipped with the reason;
``make test`` installs them (Debian's r-base-core, r-cran-metafor, r-cran-metadat,
r-cran-lme4)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from immune_recovery.evidence import il2, questions
from immune_recovery.meta import (
    BinomialNormalMetaAnalysis,
    MetaAnalysis,
    MetaRegression,
    MultilevelMetaAnalysis,
    logit_proportion,
)

SCRIPT = Path(__file__).parent / "r" / "metafor_reference.R"
#: Largest relative difference allowed (absolute below 1e-8), and for the GLMM.
RTOL, RTOL_GLMM, ATOL = 1e-4, 1e-3, 1e-8
METHODS = ("REML", "ML", "DL", "PM")
INFLUENCE = {"rstudent": "rstudent", "dffits": "dffits", "cook.d": "cook_d", "cov.r": "cov_r",
             "tau2.del": "tau2_del", "QE.del": "qe_del", "hat": "hat"}


def r_available() -> str:
    """'' when Rscript with metafor and metadat runs, else why not."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return "Rscript not found"
    probe = subprocess.run([rscript, "-e", "library(metafor); library(metadat)"],
                           capture_output=True, text=True)
    return "" if probe.returncode == 0 else f"R lacks metafor or metadat: {probe.stderr[-200:]}"


REASON = r_available()
pytestmark = pytest.mark.skipif(bool(REASON), reason=f"{REASON} (make test installs R and "
                                                      "metafor with apt-get)")


def bcg() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dat.bcg as escalc(measure="RR"): log risk ratios, variances, absolute latitude."""
    d = pd.DataFrame({
        "tpos": [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27],
        "tneg": [119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886],
        "cpos": [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29],
        "cneg": [128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825],
        "ablat": [44, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33, 33]})
    a, b, c, e = (d[x].to_numpy(float) for x in ("tpos", "tneg", "cpos", "cneg"))
    return (np.log((a / (a + b)) / (c / (c + e))), 1 / a - 1 / (a + b) + 1 / c - 1 / (c + e),
            d["ablat"].to_numpy(float))


def project_data() -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """The project's reference tables as the evidence report pools them: effects (y, v,
    study) and proportions (events, n)."""
    frequency = questions.pool_frequency()
    pooled = frequency.pooled_rows
    y, v = logit_proportion(pooled["events"], pooled["n_analysed"])
    rows = questions.frequency_rows()
    every = rows[rows["eligible"]]
    ye, ve = logit_proportion(every["events"], every["n_analysed"])
    outcomes = questions.pool_outcomes().pooled_rows
    trials = il2.hazard_ratio_inputs(il2.load_clinical_trials(), "opportunistic disease or death")
    on_art = trials[trials["on_art"] == "yes"]
    effects = {
        "inr_frequency, one per study (logit)": pd.DataFrame({"yi": y, "vi": v, "study": None}),
        "inr_frequency, every estimate (logit)": pd.DataFrame({
            "yi": ye, "vi": ve, "study": every["study_id"].to_numpy()}),
        "inr_outcomes, INR vs CR (log ratio)": pd.DataFrame({
            "yi": outcomes["log_ratio"].to_numpy(), "vi": outcomes["se"].to_numpy() ** 2,
            "study": None}),
        "IL-2 trials on ART (log HR)": pd.DataFrame({
            "yi": on_art["log_hr"].to_numpy(), "vi": on_art["se"].to_numpy() ** 2,
            "study": None}),
    }
    proportions = {"inr_frequency, one per study": pd.DataFrame({
        "xi": pooled["events"].to_numpy(), "ni": pooled["n_analysed"].to_numpy()})}
    return effects, proportions


def metafor(folder: Path) -> pd.DataFrame:
    """Run the R script on the project's data; its numbers as (dataset, feature, name) rows."""
    effects, proportions = project_data()
    pd.concat([d.assign(dataset=k) for k, d in effects.items()]).to_csv(
        folder / "effects.csv", index=False)
    pd.concat([d.assign(dataset=k) for k, d in proportions.items()]).to_csv(
        folder / "proportions.csv", index=False)
    out = folder / "metafor.csv"
    run = subprocess.run(["Rscript", str(SCRIPT), str(folder), str(out)], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    return pd.read_csv(out)


def univariate(y: np.ndarray, v: np.ndarray, full: bool) -> dict[tuple[str, str], np.ndarray]:
    """Our numbers for the features the R script computes for one data set."""
    out: dict[tuple[str, str], np.ndarray] = {}
    for method in METHODS:
        p = MetaAnalysis(method=method, test="z").fit(y, v=v).primary
        out |= {(f"rma_{method}", "estimate"): p["estimate"], (f"rma_{method}", "se"): p["se"],
                (f"rma_{method}", "tau2"): p["tau2"],
                (f"rma_{method}", "tau2_ci"): [p["tau2_ci_low"], p["tau2_ci_high"]],
                (f"rma_{method}", "i2"): p["i2"], (f"rma_{method}", "h2"): p["h2"],
                (f"rma_{method}", "q"): p["q"]}
    for test in ("knha", "adhoc"):
        p = MetaAnalysis(test=test).fit(y, v=v).primary
        out |= {(f"test_{test}", "ci"): [p["ci_low"], p["ci_high"]],
                (f"test_{test}", "se"): p["se"]}
    fit = MetaAnalysis(test="z", prediction="normal").fit(y, v=v)
    if fit.k_ >= 5:
        out[("predict_z", "pi")] = fit.primary[["pi_low", "pi_high"]].to_numpy(float)
    if not full:
        return out
    loo = fit.leave_one_out()
    out |= {("leave1out", c): loo[c] for c in ("estimate", "se", "tau2")}
    influence = fit.influence()
    out |= {("influence", r): influence[ours] for r, ours in INFLUENCE.items()}
    cumulative = fit.cumulative()
    out |= {("cumul", c): cumulative[c] for c in ("estimate", "se", "tau2")}
    reg = fit.regtest()
    out |= {("regtest", "statistic"): reg["statistic"], ("regtest", "p"): reg["p"],
            ("regtest", "limit"): [reg["limit_estimate"], reg["limit_ci_low"],
                                   reg["limit_ci_high"]]}
    tf = fit.trimfill()
    out |= {("trimfill", "k0"): tf.k0, ("trimfill", "estimate"): tf.fit.primary["estimate"],
            ("trimfill", "se"): tf.fit.primary["se"]}
    return out


def meta_regression(y, v, ablat) -> dict[tuple[str, str], np.ndarray]:
    out = {}
    for test in ("z", "knha"):
        reg = MetaRegression(test=test).fit(y, v, pd.DataFrame({"ablat": ablat}))
        c, f = reg.coefficients, f"metareg_{test}"
        out |= {(f, "estimate"): c["estimate"], (f, "se"): c["se"],
                (f, "ci"): np.concatenate([c["ci_low"], c["ci_high"]]), (f, "p"): c["p"],
                (f, "tau2"): reg.tau2_, (f, "tau2_ci"): list(reg.tau2_ci_), (f, "r2"): reg.r2_,
                (f, "qm"): [reg.qm_, reg.qm_p_], (f, "qe"): reg.qe_, (f, "i2"): reg.i2_}
        pred = reg.predict_frame(pd.DataFrame({"ablat": [10.0, 30.0, 50.0]}))
        out[(f, "predict")] = np.concatenate([pred["pred"], pred["se"], pred["ci_low"],
                                              pred["ci_high"], pred["pi_low"],
                                              pred["pi_high"]])
    return out


def multilevel(y, v, study) -> dict[tuple[str, str], np.ndarray]:
    fit = MultilevelMetaAnalysis().fit(y, v, study)
    c, comp = fit.coefficients.iloc[0], fit.components_
    return {("rma_mv", "estimate"): c["estimate"], ("rma_mv", "se"): c["se"],
            ("rma_mv", "sigma2"): comp["sigma2"],
            ("rma_mv", "sigma2_ci"): comp[["ci_low", "ci_high"]].to_numpy().ravel()}


def ours(folder: Path) -> dict[str, dict[tuple[str, str], np.ndarray]]:
    """Our numbers for every data set (``folder``: where the R script left
    dat.konstantopoulos2011)."""
    y, v, ablat = bcg()
    out = {"dat.bcg": univariate(y, v, True) | meta_regression(y, v, ablat)}
    konst = pd.read_csv(folder / "konstantopoulos2011.csv")
    out["dat.konstantopoulos2011"] = multilevel(
        konst["yi"].to_numpy(), konst["vi"].to_numpy(), konst["district"].astype(str))
    effects, proportions = project_data()
    for name, d in effects.items():
        if d["study"].notna().any():
            out[name] = multilevel(d["yi"].to_numpy(), d["vi"].to_numpy(), d["study"])
        else:
            out[name] = univariate(d["yi"].to_numpy(), d["vi"].to_numpy(), len(d) >= 5)
    for name, d in proportions.items():
        g = BinomialNormalMetaAnalysis().fit(d["xi"], d["ni"])
        out[name] = {("rma_glmm", "estimate"): g.mu_, ("rma_glmm", "se"): g.se_,
                     ("rma_glmm", "tau2"): g.tau2_}
    return out


def comparison(folder: Path) -> pd.DataFrame:
    """Every number side by side, with its relative difference and the tolerance it must
    meet (R run in ``folder``)."""
    reference = metafor(folder)
    mine = ours(folder)
    rows = []
    for (dataset, feature, name), group in reference.groupby(["dataset", "feature", "name"],
                                                             sort=False):
        theirs = group.sort_values("index")["value"].to_numpy(float)
        value = np.atleast_1d(np.asarray(mine[dataset][(feature, name)], float))
        assert value.shape == theirs.shape, (dataset, feature, name, value, theirs)
        for index, (a, b) in enumerate(zip(value, theirs, strict=True)):
            rows.append({"dataset": dataset, "feature": feature, "name": name, "index": index,
                         "ours": a, "metafor": b,
                         "tolerance": RTOL_GLMM if feature == "rma_glmm" else RTOL})
    return with_differences(pd.DataFrame(rows))


def with_differences(table: pd.DataFrame) -> pd.DataFrame:
    """``relative_difference`` = |ours - metafor| / max(|metafor|, ATOL / RTOL) per number."""
    scale = np.maximum(np.abs(table["metafor"]), ATOL / RTOL)
    return table.assign(relative_difference=np.abs(table["ours"] - table["metafor"]) / scale)


def disagreements(table: pd.DataFrame) -> pd.DataFrame:
    """The numbers whose relative difference is above their tolerance (NaN counts as one)."""
    return table[~(table["relative_difference"] <= table["tolerance"])]


@pytest.fixture(scope="module")
def compared(tmp_path_factory) -> pd.DataFrame:
    return comparison(tmp_path_factory.mktemp("metafor"))


def test_every_feature_agrees_with_metafor(compared):
    bad = disagreements(compared)
    assert bad.empty, bad.to_string()


def test_the_comparison_covers_every_feature_and_data_set(compared):
    features = set(compared["feature"])
    assert {"rma_REML", "rma_ML", "rma_DL", "rma_PM", "test_knha", "test_adhoc", "predict_z",
            "leave1out", "influence", "cumul", "regtest", "trimfill", "metareg_z",
            "metareg_knha", "rma_mv", "rma_glmm"} <= features
    assert {"dat.bcg", "dat.konstantopoulos2011", "inr_frequency, one per study"} <= set(
        compared["dataset"])
    assert len(compared) > 300


def test_the_comparison_fails_on_a_wrong_number_or_a_missing_one(compared):
    """The same acceptance rule, fed one of our numbers 0.1% off or missing, rejects it."""
    row = compared.index[compared["metafor"].abs() > 1e-3][0]
    for wrong in (compared.loc[row, "ours"] * 1.001, np.nan):
        table = with_differences(compared.assign(ours=compared["ours"].where(
            compared.index != row, wrong)))
        assert list(disagreements(table).index) == [row]


if __name__ == "__main__":  # the features x data sets table for a close note
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        table = comparison(Path(folder))
    summary = table.groupby(["feature", "dataset"])["relative_difference"].agg(["size", "max"])
    print(summary.to_string(), file=sys.stdout)
