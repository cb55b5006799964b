"""The reference database: every committed row of every study-level table validates against
its schema, and only V / V2 rows may enter a pooled estimate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from immune_recovery import reference
from immune_recovery.exceptions import EvidenceError
from immune_recovery.paths import reference_dir


@pytest.mark.parametrize("table", sorted(reference.SCHEMAS))
def test_every_committed_row_validates(table):
    frame = reference.load(table)
    assert len(frame) > 0
    if table == "claims":
        assert frame["sources"].str.len().gt(0).all(), "every claim names its evidence"
        return
    if table in ("study_groups", "harmonization"):
        assert frame["reason"].str.len().gt(0).all(), "every grouping and choice says why"
        return
    citation = "citation" if "citation" in frame else "source"
    assert frame[citation].notna().all(), "every row keeps its citation"
    if "verification" not in frame:
        return  # the project's own calibration targets
    if table in reference.STUDY_TABLES:
        assert reference.poolable(frame).all(), "the new tables hold V and V2 rows only"
    else:
        assert not reference.poolable(frame).any(), "older tables' tags are never poolable"


def test_counts_match_the_tables_readme():
    readme = (reference_dir() / "README.md").read_text(encoding="utf-8")
    for table, rows in (("inr_frequency", 79), ("inr_risk_factors", 98),
                        ("inr_outcomes", 59), ("event_rates", 42), ("cd4_variability", 16),
                        ("immune_therapy_trials", 65), ("inr_risk_factors_linear", 29),
                        ("late_response", 50)):
        assert len(reference.load(table)) == rows
        assert f"`{table}.csv` | {rows} rows" in readme


def test_a_row_that_breaks_its_schema_is_named(tmp_path, monkeypatch):
    frame = pd.read_csv(reference_dir() / "inr_frequency.csv")
    frame.loc[0, "verification"] = "guess"
    frame.loc[1, "pct_inr"] = 140.0
    with pytest.raises(pa.errors.SchemaErrors) as err:
        reference.SCHEMAS["inr_frequency"].validate(frame, lazy=True)
    text = str(err.value)
    assert "verification" in text and "pct_inr" in text


def test_rows_not_verified_are_never_poolable():
    frame = pd.DataFrame({"verification": ["V", "V2", "verified", "seed", None]})
    assert reference.poolable(frame).tolist() == [True, True, False, False, False]


def test_published_outcomes_come_from_the_one_reference_table():
    """The older published_outcomes.csv is merged away: the outcomes reports read the
    study-level inr_outcomes.csv."""
    from immune_recovery.reference import published_outcomes

    assert not (reference_dir() / "published_outcomes.csv").exists()
    grabar = published_outcomes(["Grabar2000"]).set_index("comparison")
    assert grabar.loc["INR vs CR", "estimate"] == 1.98
    assert (grabar["verification"] == "V").all()


def test_claims_schema_names_a_malformed_source(tmp_path):
    claims = reference.load("claims")
    claims.loc[0, "sources"] = "frequency-synthetic/frequency.csv proportion"
    claims.loc[1, "claim_id"] = claims.loc[2, "claim_id"]
    path = tmp_path / "claims.csv"
    claims.to_csv(path, index=False)
    with pytest.raises(EvidenceError) as err:
        reference.load_claims(path)
    text = str(err.value)
    assert text.startswith("claims.csv:") and "column sources" in text
    assert "column claim_id" in text, "all problems in one answer"


def test_the_second_extraction_is_in_whole_and_the_first_unchanged():
    """Every row of the shared tables' first extraction is still here as it was; the new rows
    (second extraction) are V or V2; late_response.csv is new."""
    first = {"inr_frequency": 58, "inr_risk_factors": 69, "inr_outcomes": 56,
             "immune_therapy_trials": 45, "inr_risk_factors_linear": 7}
    for table, old in first.items():
        frame = reference.load(table)
        assert len(frame) > old and reference.poolable(frame).all(), table
    late = reference.load("late_response")
    assert late["study_id"].nunique() == 15 and set(late["measure"]) <= set(
        reference.LATE_MEASURES)


def test_text_printed_in_a_number_is_kept_as_text_and_never_made_a_number():
    frame = reference.load("inr_frequency").set_index("estimate_id")
    row = frame.loc["paserm_croi_range"]
    assert np.isnan(row["assess_month"]) and row["assess_month_printed"] == "12-36"
    late = reference.load("late_response")
    assert late["years_from_art_start_printed"].notna().sum() == 20
    assert late.loc[late["estimate_printed"].notna(), "estimate"].isna().all()


def test_studies_sharing_patients_share_a_group():
    groups = reference.study_groups(pd.DataFrame({"study_id": [
        "Pacheco2015", "CoRISMD_lowCD4", "Engsig2010", "Engsig2014", "wu2022_meta", "X1"]}))
    assert groups["study_group"].tolist() == ["CoRIS", "CoRIS", "Danish HIV Cohort",
                                              "ART-CC/COHERE (Engsig 2014)", "wu2022_meta", "X1"]
    assert groups["contained_in"].tolist()[2] == "ART-CC/COHERE (Engsig 2014)"
    assert groups["meta_analysis"].tolist() == [False] * 4 + [True, False]


def test_a_table_read_twice_is_read_once_and_each_caller_gets_its_own_copy(tmp_path):
    source = reference_dir() / "inr_frequency.csv"
    path = tmp_path / "inr_frequency.csv"
    path.write_bytes(source.read_bytes())
    first = reference.load("inr_frequency", path)
    first.loc[0, "pct_inr"] = -1.0  # a caller changing its frame changes no one else's
    second = reference.load("inr_frequency", path)
    pd.testing.assert_frame_equal(second, reference.load("inr_frequency", source))
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:2]), encoding="utf-8")  # the file changed: read again
    assert len(reference.load("inr_frequency", path)) == 1
