"""``immune-recovery report`` on cohorts built to leak (tests/data/disclosure/, made by
tests/data/make_disclosure_corpus.py) and on a 20,000-patient simulated cohort with a patient
of unknown sex: every report builds, nothing patient-level is inside the site, the output
checker passes, and the attacks a reader could make on the published files fail."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from immune_recovery.cli import main
from immune_recovery.reporting.outputcheck import PUBLISHED_SUFFIXES, printed_text

CORPUS = Path(__file__).parent / "data" / "disclosure"
KINDS = ("data-quality", "cohort-overview", "frequency", "risk-factors", "outcomes",
         "trajectories", "in-context")
MIN_CELL = 10
CLOSE = "2026-01-01"


def _build(folder: Path, name: str, out: Path, *extra: str) -> int:
    return main(["report", str(folder), "--name", name, "--out", str(out), "--close-date",
                 CLOSE, "--jobs", "2", "--no-progress", *extra])


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    root = tmp_path_factory.mktemp("disclosure")
    built = {}
    for name in ("site40", "strata"):
        out = root / name / "site"
        extra = ("--show-examples",) if name == "strata" else ()
        built[name] = (CORPUS / name, out, _build(CORPUS / name, name, out, *extra))
    big = root / "c20k"
    assert main(["simulate", "--patients", "20000", "--seed", "11", "--out",
                 str(big / "sim")]) == 0
    export = big / "export"
    export.mkdir()
    for table in ("tblBAS", "tblLAB_CD4", "tblLAB_RNA", "tblLTFU", "tblDIS", "tblART"):
        shutil.copy(big / "sim" / f"{table}.csv", export / f"{table}.csv")
    bas = pd.read_csv(export / "tblBAS.csv", dtype=str)
    bas.loc[bas.index[11], "SEX"] = "9"  # HICDEP "unknown": once crashed two reports
    bas.to_csv(export / "tblBAS.csv", index=False)
    built["c20k"] = (export, big / "site", _build(export, "c20k", big / "site"))
    return built


NAMES = ("site40", "strata", "c20k")


@pytest.mark.parametrize("name", NAMES)
def test_every_report_builds_and_the_checker_passes(sites, name):
    _, out, status = sites[name]
    assert status == 0
    assert {p.name for p in out.iterdir() if p.is_dir()} == {f"{k}-{name}" for k in KINDS}
    record = json.loads((out / "disclosure.json").read_text())
    assert record["summary"]["outcome"] == "pass", record["findings"][:5]
    assert record["summary"]["files_scanned"] == sum(1 for p in out.rglob("*")
                                                     if p.is_file()) - 1
    assert record["summary"]["cells_suppressed"], "small cells exist in every case"


@pytest.mark.parametrize("name", NAMES)
def test_nothing_patient_level_is_inside_the_site(sites, name):
    """Every file under the site, hidden ones included: published kinds only, no copy of
    the export, no patient id, no date of the data, no local path; the work folder is gone."""
    folder, out, _ = sites[name]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert all(p.suffix in PUBLISHED_SUFFIXES for p in files), \
        [p.name for p in files if p.suffix not in PUBLISHED_SUFFIXES]
    assert not [p for p in out.rglob(".*")], "hidden files or folders inside the site"
    assert not out.with_name(out.name + ".work").exists()
    ids = set(pd.read_csv(folder / "tblBAS.csv", dtype=str)["PATIENT"])
    births = set(pd.read_csv(folder / "tblBAS.csv", dtype=str)["BIRTH_D"].dropna())
    for path in files:
        if path.suffix == ".png":
            continue
        text = printed_text(path) if path.suffix in (".pdf", ".docx") else \
            path.read_text(encoding="utf-8")
        tokens = set(re.findall(r"[A-Za-z0-9_-]+", text))
        assert not tokens & ids, f"{path.relative_to(out)}: patient ids"
        assert not set(re.findall(r"\d{4}-\d{2}-\d{2}", text)) & births, path
        assert str(folder) not in text and str(out) not in text, f"{path}: a local path"


def _frame(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return float("nan")


@pytest.mark.parametrize("name", NAMES)
def test_count_times_proportion_reveals_no_small_count(sites, name):
    _, out, _ = sites[name]
    table = _frame(out / f"frequency-{name}" / "tables" / "frequency.csv")
    n = table["n_assessable"].map(_number)
    p = table["proportion"].map(_number)
    implied = pd.concat([n * p, n * (1 - p)])
    assert not ((implied >= 0.5) & (implied < MIN_CELL - 0.5)).any()


@pytest.mark.parametrize("name", NAMES)
def test_total_minus_the_other_strata_recovers_no_suppressed_count(sites, name):
    """For each definition and stratum variable: when exactly one level is hidden and the
    overall row is shown, the hidden level would be the overall minus the others."""
    _, out, _ = sites[name]
    table = _frame(out / f"frequency-{name}" / "tables" / "frequency.csv")
    for column in ("n_patients", "n_assessable", "n_nonresponders"):
        for definition, rows in table.groupby("definition"):
            total = rows.loc[rows["stratum"] == "overall", column].map(_number)
            for _, levels in rows[rows["stratum"] != "overall"].groupby(
                    rows["stratum"].str.split("=").str[0]):
                hidden = levels[column].map(_number).isna()
                assert hidden.sum() != 1 or total.isna().all(), (definition, column)


@pytest.mark.parametrize("name", NAMES)
def test_table_one_categories_cannot_be_recovered_from_the_total(sites, name):
    _, out, _ = sites[name]
    table = _frame(out / f"cohort-overview-{name}" / "tables" / "table_one.csv")
    for variable, rows in table[table["level"] != ""].groupby("variable"):
        hidden = rows["Overall"].map(lambda v: not re.match(r"^\d+ \(", v))
        assert hidden.sum() != 1, variable


@pytest.mark.parametrize("name", NAMES)
def test_late_response_curves_show_nothing_for_small_risk_sets(sites, name):
    _, out, _ = sites[name]
    for file in ("late_response.csv", "late_response_bounds.csv"):
        table = _frame(out / f"trajectories-{name}" / "tables" / file)
        n_start = table["n_start"].map(_number)
        for column in {"crossings", "competing", "censored", "n_known"} & set(table):
            values = table[column].map(_number)
            assert not ((values > 0) & (values < MIN_CELL)).any(), (file, column)
        small = n_start.isna() | (n_start < MIN_CELL)
        share = "cumulative_incidence" if "cumulative_incidence" in table else "proportion"
        assert table.loc[small, share].isin(["", "[d]"]).all(), file


def test_the_examples_file_is_written_beside_the_site(sites):
    """--show-examples once failed with DisclosureError and wrote nothing."""
    folder, out, status = sites["strata"]
    assert status == 0
    examples = out.parent / "strata-examples.csv"
    assert examples.is_file() and not (out / "strata-examples.csv").exists()
    html = (out / "data-quality-strata" / "data-quality-strata.html").read_text()
    assert "Example rows written to a separate file" in html


def test_provenance_keeps_hashes_and_no_paths(sites):
    folder, out, _ = sites["c20k"]
    record = json.loads((out / "frequency-c20k" / "report.json").read_text())
    assert record["parameters"]["cohort_path"] == "<local path>"
    assert len(record["hashes"]["data"]) == 64
    manifest = (out / "manifest.json").read_text()
    assert str(folder.parent) not in manifest
