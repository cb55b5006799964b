"""The catalogue of published definitions and the user-definition format."""

from __future__ import annotations

import csv

import pytest

from immune_recovery.definitions import (
    catalogue_entries,
    load_catalogue,
    load_definitions_file,
    parse_definition,
    select_definitions,
)
from immune_recovery.exceptions import DefinitionError
from immune_recovery.paths import reference_dir


def reference_rows() -> list[dict]:
    with (reference_dir() / "published_definitions.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_every_reference_row_is_in_the_catalogue_with_its_citation():
    entries = {e["id"]: e for e in catalogue_entries()}
    rows = reference_rows()
    assert [r["id"] for r in rows] == list(entries)
    for row in rows:
        entry = entries[row["id"]]
        assert entry["citation"] == row["source"]
        assert (entry["reported_pct_nonresponse"] or "") == row["reported_pct_nonresponse"]
        assert " ".join(entry.get("frequency_estimates") or []) == row["frequency_estimates"]
        if entry.get("operational", True) is False:
            assert entry["reason"]
        else:
            assert entry["operational_notes"]


def test_catalogue_thresholds_follow_the_reference_file():
    catalogue = load_catalogue()
    for row in reference_rows():
        if row["id"] not in catalogue or not row["cd4_threshold"]:
            continue
        definition = catalogue[row["id"]]
        if definition.combine == "single":
            assert definition.criteria[0].threshold == float(row["cd4_threshold"])
            assert definition.criteria[0].rule == row["cd4_rule"]
    assert len(catalogue) == 27


def test_user_file_and_errors(tmp_path):
    good = tmp_path / "defs.yaml"
    good.write_text(
        "- id: w20\n  cd4_rule: gain_lt\n  cd4_threshold: 50\n  assessment_day: 140\n"
        "  vl_rule: none\n"
        "- id: combo\n  any_of:\n    - {cd4_rule: level_lt, cd4_threshold: 200}\n"
        "    - {cd4_rule: below_baseline}\n  assessment_month: 12\n  vl_rule: sustained\n"
        "  vl_cutoff: 50\n  vl_sustained_from_month: 6\n")
    defs = load_definitions_file(good)
    assert defs["w20"].target_days == 140 and defs["w20"].window_days == 45
    assert defs["combo"].combine == "any_of" and defs["combo"].vl_sustained_from_days == 183
    assert [x.id for x in select_definitions(True, good, ["w20", "grabar2000_gain_m6"])] == [
        "w20", "grabar2000_gain_m6"]
    with pytest.raises(DefinitionError, match="unknown definition id"):
        select_definitions(ids=["nope"])
    bad = tmp_path / "bad.yaml"
    for text, message in [
        ("- id: a\n  cd4_rule: gain_xx\n  cd4_threshold: 5\n  assessment_month: 6\n",
         "cd4_rule 'gain_xx'"),
        ("- id: a\n  cd4_rule: gain_lt\n  assessment_month: 6\n", "'cd4_threshold' is required"),
        ("- id: a\n  cd4_rule: gain_lt\n  cd4_threshold: 5\n", "exactly one of assessment"),
        ("- id: a\n  cd4_rule: gain_lt\n  cd4_threshold: 5\n  assessment_month: 6\n"
         "  vl_rule: at_assessment\n", "'vl_cutoff' is required"),
        ("- id: a\n  cd4_rule: gain_lt\n  cd4_threshold: x\n  assessment_month: 6\n",
         "must be a number"),
        ("- id: a\n  cd4_rule: gain_lt\n  cd4_threshold: 5\n  assessment_month: 6\n  foo: 1\n",
         "unknown field"),
        ("id: a\n", "expected a YAML list"),
        ("- id: a\n  cd4_rule: [\n", "not valid YAML"),
    ]:
        bad.write_text(text)
        with pytest.raises(DefinitionError, match=message):
            load_definitions_file(bad)


def test_window_defaults_and_day_rounding():
    m12 = parse_definition({"id": "a", "cd4_rule": "level_lt", "cd4_threshold": 1,
                            "assessment_month": 12})
    m13 = parse_definition({"id": "b", "cd4_rule": "level_lt", "cd4_threshold": 1,
                            "assessment_month": 13})
    assert (m12.target_days, m12.window_days) == (365, 45)
    assert (m13.target_days, m13.window_days) == (396, 90)


def test_published_frequencies_have_one_truth_in_inr_frequency():
    """A catalogue entry names its study-level estimates instead of copying their numbers; a
    number stays in the catalogue only where inr_frequency.csv does not have it."""
    import pandas as pd

    from immune_recovery.definitions import published_frequency

    frequency = pd.read_csv(reference_dir() / "inr_frequency.csv").set_index("estimate_id")
    catalogue = load_catalogue()
    linked = [d for d in catalogue.values() if d.info.get("frequency_estimates")]
    assert len(linked) >= 15
    for definition in linked:
        assert definition.info.get("reported_pct_nonresponse") is None
        assert definition.info.get("reported_n_assessed") is None
        ids = definition.info["frequency_estimates"]
        assert set(ids) <= set(frequency.index), definition.id
    baker = published_frequency(catalogue["baker2008_gain_lt50_m8"])
    assert baker == (f"{frequency.loc['baker2008_gain_lt50_m8', 'pct_inr']:g}",
                     f"{frequency.loc['baker2008_gain_lt50_m8', 'n_analysed']:g}")
    kelley = published_frequency(catalogue["kelley2009_never_gt500"])[0]
    assert kelley == "44; 25"
    seed = published_frequency(catalogue["seed_gain_le100_m6_12"])
    assert seed == ("10-20 (range quoted)", None)
