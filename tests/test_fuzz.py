"""Property-based fuzzing of the loader: random corruptions of a valid cohort never raise an
uncaught exception, and never change the classification of patients they do not touch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from immune_recovery import InputError, load_cohort
from immune_recovery.classify import classify
from immune_recovery.definitions import load_catalogue

from .conftest import SMALL_COHORT, write_csv_tables

DEFINITIONS = [d for d in load_catalogue().values()
               if d.id in ("grabar2000_gain_m6", "seed_level_le300_m6_12",
                           "nakanjako2008_gain_lt50_m6", "zoufaly2014_below_baseline")]
TABLES = sorted(SMALL_COHORT)
PATIENTS = ["P1", "P2", "P3", "P4"]

values = st.one_of(
    st.sampled_from(["", "abc", "-1", "0", "<50", "1911-11-11", "2099-01-01", "1999-13-01",
                     "P1", "P2", "P9", "1e9", "NaN", "3", "2", "1.5", "\u00e9", " 12 "]),
    st.text(max_size=6),
    st.integers(-10_000, 10_000).map(str),
)
corruption = st.tuples(st.sampled_from(TABLES), st.integers(0, 50), st.integers(0, 20),
                       st.sampled_from(["cell", "delete", "duplicate"]), values)


def statuses(folder: Path) -> pd.DataFrame:
    cohort = load_cohort(folder)
    return classify(cohort, DEFINITIONS).long().set_index(["PATIENT", "definition"])


BASELINE: dict[str, pd.DataFrame] = {}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(corruption)
def test_corruption_only_touches_the_rows_it_corrupts(tmp_path_factory, change):
    table, line_pick, field_pick, kind, value = change
    base = tmp_path_factory.mktemp("fuzz") / "cohort"
    write_csv_tables(base, SMALL_COHORT)
    if "result" not in BASELINE:
        BASELINE["result"] = statuses(base)
    path = base / f"{table}.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 1 + line_pick % (len(lines) - 1)
    fields = lines[index].split(",")
    touched = {fields[0]}
    if kind == "delete":
        del lines[index]
    elif kind == "duplicate":
        lines.insert(index, lines[index])
    else:
        position = field_pick % len(fields)
        fields[position] = value.replace(",", ";").replace("\n", " ").replace("\r", " ")
        if position == 0:
            touched.add(fields[0].strip())
        lines[index] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        result = statuses(base)
    except InputError:
        return  # unreadable input is reported, not a crash
    finally:
        shutil.rmtree(base.parent, ignore_errors=True)
    baseline = BASELINE["result"]
    for patient in PATIENTS:
        if patient in touched:
            continue
        assert patient in result.index.get_level_values(0), f"{patient} vanished"
        pd.testing.assert_frame_equal(result.loc[patient], baseline.loc[patient])
