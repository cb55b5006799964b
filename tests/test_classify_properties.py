"""Properties of the classifier that hold for any cohort (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from immune_recovery.classify import classify
from immune_recovery.cohort import Cohort
from immune_recovery.definitions import load_catalogue, parse_definition
from immune_recovery.schemas import TABLES, empty_table

T0 = pd.Timestamp("2005-01-01")
N_PATIENTS = 6


def build(cd4_rows, rna_rows) -> Cohort:
    patients = [f"P{i}" for i in range(N_PATIENTS)]
    tables = {name: empty_table(spec) for name, spec in TABLES.items()}
    bas = empty_table(TABLES["tblBAS"]).reindex(range(N_PATIENTS))
    bas["PATIENT"] = patients
    bas["RECART_D"] = T0
    tables["tblBAS"] = bas
    tables["tblLAB_CD4"] = pd.DataFrame({
        "PATIENT": [f"P{p}" for p, _, _, _ in cd4_rows],
        "CD4_D": [T0 + pd.Timedelta(days=d) for _, d, _, _ in cd4_rows],
        "CD4_V": [float(v) for _, _, v, _ in cd4_rows],
        "CD4_U": pd.array([u for _, _, _, u in cd4_rows], dtype="Int64"),
    })
    tables["tblLAB_RNA"] = pd.DataFrame({
        "PATIENT": [f"P{p}" for p, _, _ in rna_rows],
        "RNA_D": [T0 + pd.Timedelta(days=d) for _, d, _ in rna_rows],
        "RNA_V": [float(v) for _, _, v in rna_rows],
    })
    return Cohort(name="prop", tables=tables, present=frozenset({"tblBAS", "tblLAB_CD4",
                                                                 "tblLAB_RNA"}))


def dedupe(rows, key):
    seen, out = set(), []
    for row in rows:
        if key(row) not in seen:
            seen.add(key(row))
            out.append(row)
    return out


cd4_rows = st.lists(st.tuples(st.integers(0, N_PATIENTS - 1), st.integers(-200, 1500),
                              st.integers(0, 1500), st.sampled_from([1, 1, 1, 2])),
                    max_size=60).map(lambda rows: dedupe(rows, lambda r: (r[0], r[1], r[3])))
rna_rows = st.lists(st.tuples(st.integers(0, N_PATIENTS - 1), st.integers(-200, 1500),
                              st.sampled_from([-1, -50, -400, 20, 60, 450, 5000, 100000])),
                    max_size=40).map(lambda rows: dedupe(rows, lambda r: (r[0], r[1])))

CATALOGUE = list(load_catalogue().values())


def outcome(cohort: Cohort) -> pd.DataFrame:
    return classify(cohort, CATALOGUE).long().sort_values(["definition", "PATIENT"]) \
        .reset_index(drop=True)


@settings(max_examples=40, deadline=None)
@given(cd4_rows, rna_rows, st.randoms(use_true_random=False))
def test_row_order_does_not_matter(cd4, rna, rnd):
    shuffled_cd4, shuffled_rna = list(cd4), list(rna)
    rnd.shuffle(shuffled_cd4)
    rnd.shuffle(shuffled_rna)
    pd.testing.assert_frame_equal(outcome(build(cd4, rna)),
                                  outcome(build(shuffled_cd4, shuffled_rna)))


@settings(max_examples=40, deadline=None)
@given(cd4_rows, rna_rows)
def test_group_counts_sum_to_patients(cd4, rna):
    counts = classify(build(cd4, rna), CATALOGUE).group_counts()
    assert (counts.sum(axis=1) == N_PATIENTS).all()


def _outside_every_window(day: int) -> bool:
    """True when no definition's baseline, assessment or sustained range covers the day."""
    if -180 <= day <= 7:
        return False
    for definition in CATALOGUE:
        lo = definition.target_days - definition.window_days
        hi = definition.target_days + definition.window_days
        if lo <= day <= hi:
            return False
        if definition.vl_rule == "sustained" and definition.vl_sustained_from_days <= day <= hi:
            return False
        if any(c.rule == "never_above" for c in definition.criteria) and 0 <= day <= hi:
            return False
    return True


OUTSIDE = [x for x in range(-400, 2700) if _outside_every_window(x)]


@settings(max_examples=40, deadline=None)
@given(cd4_rows, rna_rows,
       st.lists(st.tuples(st.integers(0, N_PATIENTS - 1), st.sampled_from(OUTSIDE),
                          st.integers(0, 1500)), min_size=1, max_size=10))
def test_measurements_outside_every_window_change_nothing(cd4, rna, extra):
    taken = {(p, d) for p, d, _, _ in cd4}
    extra_cd4 = dedupe([(p, d, v, 1) for p, d, v in extra if (p, d) not in taken],
                       lambda r: (r[0], r[1]))
    taken_rna = {(p, d) for p, d, _ in rna}
    extra_rna = dedupe([(p, d, 100000) for p, d, _ in extra if (p, d) not in taken_rna],
                       lambda r: (r[0], r[1]))
    pd.testing.assert_frame_equal(outcome(build(cd4, rna)),
                                  outcome(build(cd4 + extra_cd4, rna + extra_rna)))


@settings(max_examples=40, deadline=None)
@given(cd4_rows, rna_rows, st.sampled_from(["gain_lt", "level_lt"]),
       st.integers(-100, 600), st.integers(0, 300), st.sampled_from([6, 12, 24]))
def test_raising_a_threshold_never_lowers_the_count(cd4, rna, rule, low, step, month):
    cohort = build(cd4, rna)
    counts = []
    for threshold in (low, low + step):
        definition = parse_definition({"id": "t", "cd4_rule": rule, "cd4_threshold": threshold,
                                       "assessment_month": month, "vl_rule": "at_assessment",
                                       "vl_cutoff": 400})
        groups = classify(cohort, [definition]).results["t"].group
        counts.append(int(np.sum(groups == 1)))  # immunologic_nonresponder
    assert counts[1] >= counts[0]


@settings(max_examples=30, deadline=None)
@given(cd4_rows, rna_rows)
def test_the_result_does_not_depend_on_the_threads(cd4, rna):
    cohort = build(cd4, rna)
    one = classify(cohort, CATALOGUE, threads=1).long()
    pd.testing.assert_frame_equal(one, classify(cohort, CATALOGUE, threads=2).long())
    pd.testing.assert_frame_equal(one, classify(cohort, CATALOGUE, threads=7).long())


def test_columns_in_order_are_used_in_place():
    """No copy of a long table when it is already in (patient, date) order."""
    from immune_recovery.classify import prepare

    cd4 = [(p, d, 100 + d, 1) for p in range(N_PATIENTS) for d in (-30, 90, 200)]
    rna = [(p, d, 50) for p in range(N_PATIENTS) for d in (0, 180)]
    cohort = build(cd4, rna)
    prep = prepare(cohort)
    assert prep.cd4.order is None and prep.rna.order is None
    assert np.shares_memory(prep.cd4_values, cohort.cd4["CD4_V"].to_numpy())
    assert np.shares_memory(prep.rna_values, cohort.rna["RNA_V"].to_numpy())
