"""Event rates per 100 person-years by *current* CD4: the way cohort papers publish them
(Baker 2008, COHERE, Lapadula 2013), from counting-process data.

Input is :func:`~immune_recovery.outcomes.time_varying_data`: one interval per measurement
after T0, carrying the last CD4 count and the last viral load. A patient's person-time is
split by the stratum of the current count; the first event (of the kind the data were built
for) is counted in the stratum it happened in; the patient leaves at that event. With
``suppressed_only`` the person-time with a current viral load at or above the cut-off is left
out, the way "among suppressed patients" is meant in the calibration targets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .intervals import exact_poisson_ci

#: Rate scale: events per this many person-years.
PER_PERSON_YEARS = 100.0
RATE_COLUMNS = ["stratum", "patients", "events", "person_years", "rate_per_100py", "ci_low",
                "ci_high"]


def _rates(data: pd.DataFrame, label: pd.Series, per: float = PER_PERSON_YEARS,
           alpha: float = 0.05) -> pd.DataFrame:
    frame = pd.DataFrame({"stratum": label.to_numpy(), "PATIENT": data["PATIENT"].to_numpy(),
                          "event": data["event"].to_numpy(),
                          "years": (data["stop"] - data["start"]).to_numpy()})
    frame = frame[frame["stratum"].notna()]
    agg = frame.groupby("stratum", sort=False).agg(
        patients=("PATIENT", "nunique"), events=("event", "sum"), person_years=("years", "sum"))
    low, high = exact_poisson_ci(agg["events"].to_numpy(), agg["person_years"].to_numpy(), alpha)
    out = agg.reset_index()
    out["rate_per_100py"] = per * out["events"] / out["person_years"]
    out["ci_low"], out["ci_high"] = per * low, per * high
    return out[RATE_COLUMNS]


def _kept(data: pd.DataFrame, suppressed_only: bool) -> pd.DataFrame:
    return data[data["current_viremic"] == 0] if suppressed_only else data


def rates_by_current_cd4(data: pd.DataFrame, strata: dict[str, tuple[float, float]],
                         suppressed_only: bool = True) -> pd.DataFrame:
    """Rate per 100 person-years in each current-CD4 stratum ``{label: (low, high)}``
    (cells/mm³, low inclusive, high exclusive). Strata may overlap (each is computed on its
    own). Columns :data:`RATE_COLUMNS`, one row per stratum in the order given."""
    data = _kept(data, suppressed_only)
    cd4 = data["current_sqrt_cd4"].to_numpy() ** 2
    parts = []
    for name, (low, high) in strata.items():
        inside = (cd4 >= low) & (cd4 < high)
        parts.append(_rates(data[inside], pd.Series(name, index=data.index[inside])))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=RATE_COLUMNS)
    return out.set_index("stratum").reindex(list(strata)).reset_index()


def rates_by_relative_cd4(data: pd.DataFrame, baseline_cd4: pd.Series, ratio: float,
                          suppressed_only: bool = True) -> pd.DataFrame:
    """Rates while the current count is below ``ratio`` times the patient's baseline
    (``below``) and at or above it (``at_or_above``): a time-updated non-response status such
    as Lapadula 2013's (current CD4 < 120% of the pre-ART count). ``baseline_cd4`` is indexed
    by ``PATIENT`` (cells/mm³)."""
    data = _kept(data, suppressed_only)
    base = baseline_cd4.reindex(data["PATIENT"]).to_numpy()
    cd4 = data["current_sqrt_cd4"].to_numpy() ** 2
    label = pd.Series(np.where(cd4 < ratio * base, "below", "at_or_above"), index=data.index)
    label[np.isnan(base)] = None
    out = _rates(data, label).set_index("stratum")
    return out.reindex(["below", "at_or_above"]).reset_index()
