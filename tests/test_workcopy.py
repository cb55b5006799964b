"""Issue 35: the work copy gives back the cohort that was validated, table for table, ledger
for ledger, patient table for patient table, reading only the tables asked for."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from immune_recovery.baseline import patient_table
from immune_recovery.cli import main
from immune_recovery.cohort import load_cohort
from immune_recovery.exceptions import ParameterError
from immune_recovery.hicdep import write_tables
from immune_recovery.paths import project_root
from immune_recovery.reporting.cohort_site import KINDS, LONGEST_FIRST, _prepare
from immune_recovery.simulate import simulate_cohort
from immune_recovery.workcopy import is_work_copy, write_work_copy

CLOSE = "2026-01-01"
LEDGER_FRAMES = ("entries", "flags", "issues", "unreadable")
LEDGER_VALUES = ("rows_read", "rows_used", "files", "close_date", "notices")


def _stored(name: str, tmp_path):
    options = {"close_date": CLOSE, "unreadable": "missing", "date_format": None}
    cohort = load_cohort(project_root() / "data" / "hicdep" / name, close_date=CLOSE,
                         unreadable="missing")
    write_work_copy(cohort, tmp_path / "copy", options, patient_table(cohort))
    return cohort, load_cohort(tmp_path / "copy", close_date=CLOSE, unreadable="missing")


@pytest.mark.parametrize("name", ["messy", "synthetic", "actg175"])
def test_the_work_copy_is_the_validated_cohort(name, tmp_path):
    cohort, back = _stored(name, tmp_path)
    assert back.present == cohort.present and back.name == cohort.name
    assert list(back.tables) == list(cohort.tables)
    for table, frame in cohort.tables.items():
        pd.testing.assert_frame_equal(back.tables[table], frame, check_exact=True)
    for attribute in LEDGER_FRAMES:
        pd.testing.assert_frame_equal(getattr(back.ledger, attribute),
                                      getattr(cohort.ledger, attribute))
    for attribute in LEDGER_VALUES:
        assert getattr(back.ledger, attribute) == getattr(cohort.ledger, attribute)
    pd.testing.assert_frame_equal(patient_table(back), patient_table(cohort), check_exact=True)
    pd.testing.assert_frame_equal(back.followup, cohort.followup)


def test_a_report_reads_only_the_tables_it_uses(tmp_path):
    cohort, back = _stored("synthetic", tmp_path)
    assert not back.tables._loaded
    assert len(back.absolute_cd4()) == len(cohort.absolute_cd4())
    assert set(back.tables._loaded) == {"tblBAS", "tblART", "tblLAB_CD4"}  # T0: RECART_D, ART_SD


def test_a_work_copy_is_not_read_under_other_options(tmp_path):
    _stored("messy", tmp_path)
    with pytest.raises(ParameterError, match="close_date '2026-01-01' .asked '2025-06-30'"):
        load_cohort(tmp_path / "copy", close_date="2025-06-30", unreadable="missing")
    with pytest.raises(ParameterError, match="unreadable"):
        load_cohort(tmp_path / "copy", close_date=CLOSE)


@pytest.mark.slow
def test_a_site_reads_the_export_once_and_times_each_step(tmp_path, capsys):
    """Issue 35: the command reads and validates the export once, in a process of its own;
    every report reads the work copy (the data-quality report names the export's own files,
    not the copy's), in a process of its own whose time and peak memory are recorded; the
    export's ids and dates for the output checker stay in the work folder."""
    export = tmp_path / "export"
    write_tables(export, simulate_cohort(400, 3).tables)
    out = tmp_path / "site"
    assert main(["report", str(export), "--name", "x", "--out", str(out), "--close-date",
                 CLOSE, "--jobs", "2", "--no-progress", "--keep-work"]) == 0
    assert re.search(r"time: read and validate \d+ s, 7 report\(s\) \d+ s; largest process "
                     r"[\d.]+ GiB", capsys.readouterr().out)
    work = out.with_name("site.work")
    timing = json.loads((work / "timing.json").read_text())
    assert list(timing)[0] == "read and validate" and len(timing) == 8
    assert all(step["seconds"] > 0 and step["peak_mib"] > 0 for step in timing.values())
    assert is_work_copy(work / "cohort") and (work / "secrets.json").is_file()
    assert not list(out.rglob("*.parquet")) and not list(out.rglob("secrets.json"))
    files = pd.read_csv(out / "data-quality-x" / "tables" / "reconciliation.csv")["file"]
    assert set(files) >= {"tblBAS.csv", "tblLAB_CD4.csv"}
    for report in (p for p in timing if p != "read and validate"):
        cells = json.loads((work / "staging" / f"{report}.cells.json").read_text())
        assert cells and all(c["seconds"] is not None for c in cells)


def test_with_several_jobs_every_report_has_its_place_longest_first():
    assert sorted(LONGEST_FIRST) == sorted(kind for kind, _, _ in KINDS)


def test_a_close_date_without_leading_zeros_reads_the_work_copy(tmp_path):
    """``--close-date 2026-1-1`` is a date pandas reads; the work copy made with it must be
    read back with it (found in review: today the command stops on its own work copy)."""
    export = _prepare(project_root() / "data" / "hicdep" / "messy", tmp_path / "work", None,
                      None, "2026-1-1", None)
    assert load_cohort(export.copy, close_date="2026-1-1", unreadable="missing").n_patients
