"""The outcome and risk-factor models under every applicable definition."""

from __future__ import annotations

import pytest

from immune_recovery import acrossdefs
from immune_recovery.baseline import patient_table
from immune_recovery.classify import classify, nonresponder_flags
from immune_recovery.covariates import analysis_frame
from immune_recovery.definitions import load_catalogue
from immune_recovery.outcomes import CoxModel, landmark_by_definition


@pytest.fixture(scope="module")
def classified(synthetic):
    defs = [load_catalogue()[i] for i in ("seed_gain_le100_m6_12", "seed_level_le200_m6_12",
                                          "kelley2009_never_gt500")]
    return synthetic, analysis_frame(patient_table(synthetic)), classify(synthetic, defs)


def test_applicable_needs_enough_patients_and_events(classified):
    _, _, result = classified
    chosen = acrossdefs.applicable(result, min_assessable=50, min_events=10)
    for def_id in result.results:
        den, num = nonresponder_flags(result, def_id)
        ok = den.sum() >= 50 and 10 <= num.sum() <= den.sum() - 10
        assert (def_id in chosen) == ok
    assert acrossdefs.applicable(result, min_assessable=10 ** 9) == []


def test_outcome_row_is_the_single_definition_model(classified):
    cohort, patients, result = classified
    table = acrossdefs.outcome_across_definitions(cohort, patients, result,
                                                  ["seed_level_le200_m6_12"], "ade_or_death",
                                                  ["cd4_per100", "age10"])
    data = landmark_by_definition(cohort, patients, result, "seed_level_le200_m6_12")
    data = data[data["status"].isin(["immunologic_nonresponder", "complete_responder"])]
    direct = CoxModel(["status", "cd4_per100", "age10"], "x",
                      {"status": "complete_responder"}).fit(data).summary.iloc[0]
    assert len(table) == 1 and table.loc[0, "definition"] == "seed_level_le200_m6_12"
    assert table.loc[0, "estimate"] == pytest.approx(direct["estimate"])
    assert table.loc[0, "n"] == direct["n"]


def test_risk_factors_one_block_per_definition(classified):
    _, patients, result = classified
    table = acrossdefs.risk_factors_across_definitions(result, patients, list(result.results),
                                                       ["age10", "female"])
    assert set(table["definition"]) == set(result.results)
    assert table.groupby("definition")["term"].apply(list).map(len).eq(2).all()
