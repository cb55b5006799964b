"""``immune-recovery report`` end to end: a simulated 500-patient cohort and the same cohort
without viral loads, built into temporary sites, opened in the browser, checked for
disclosure (no patient identifiers, small cells hidden) and rebuilt incrementally."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest

from immune_recovery.cli import main
from immune_recovery.reporting.outputcheck import printed_text

from .test_site import CHROMIUM, _pages, _records, page_problems, printed_problems, serve

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed")

KINDS = ("data-quality", "cohort-overview", "frequency", "risk-factors", "outcomes",
         "trajectories", "in-context")


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohorts")
    cohort = root / "c500"
    assert main(["simulate", "--patients", "500", "--seed", "7", "--out", str(cohort)]) == 0
    no_rna = root / "norna"
    shutil.copytree(cohort, no_rna)
    (no_rna / "tblLAB_RNA.csv").unlink()
    built = {}
    for name, folder in (("c500", cohort), ("norna", no_rna)):
        out = root / f"{name}-site"
        status = main(["report", str(folder), "--name", name, "--out", str(out),
                       "--close-date", "2026-01-01", "--jobs", "2", "--no-progress"])
        assert status == 0
        built[name] = (folder, out)
    return built


@pytest.mark.parametrize("name", ["c500", "norna"])
def test_every_report_is_built_and_renders(sites, browser, name):
    _, out = sites[name]
    assert {p.name for p in out.iterdir() if p.is_dir()} == \
        {f"{k}-{name}" for k in KINDS}
    url, shutdown = serve(out)
    try:
        problems = {path: page_problems(browser, url, path) for path in _pages(out)}
    finally:
        shutdown()
    assert not any(problems.values()), problems
    printed = {r["id"]: printed_problems(out, r) for r in _records(out)}
    assert not any(printed.values()), printed


@pytest.mark.parametrize("name", ["c500", "norna"])
def test_no_identifier_and_no_small_cell_leaves(sites, name):
    folder, out = sites[name]
    ids = set(pd.read_csv(folder / "tblBAS.csv", dtype=str)["PATIENT"])
    published = [p for p in out.rglob("*") if p.is_file()]
    assert all(p.suffix in (".csv", ".html", ".json", ".ipynb", ".png", ".md", ".pdf",
                            ".docx") for p in published), \
        "only pages, their printed versions, tables, figures and records in the site"
    published = [p for p in published if p.suffix in (".csv", ".html", ".json", ".pdf",
                                                      ".docx")]
    for path in published:
        text = printed_text(path) if path.suffix in (".pdf", ".docx") else \
            path.read_text(encoding="utf-8")
        leaked = [i for i in ids if re.search(rf"\b{re.escape(i)}\b", text)]
        assert not leaked, f"{path.relative_to(out)} shows patient ids {leaked[:3]}"
    for table in out.glob("*/tables/*.csv"):
        frame = pd.read_csv(table)
        for column in frame.columns:
            if re.fullmatch(r"patients|events|n_nonresponders|n_assessable|crossings|deaths",
                            column):
                values = pd.to_numeric(frame[column], errors="coerce")
                assert not ((values > 0) & (values < 10)).any(), f"{table.name}:{column}"


def test_a_cohort_without_viral_loads_says_so(sites):
    _, out = sites["norna"]
    frequency = pd.read_csv(out / "frequency-norna" / "tables" / "frequency.csv")
    assert len(frequency)
    html = (out / "risk-factors-norna" / "risk-factors-norna.html").read_text()
    assert "Traceback" not in html


def test_second_run_rebuilds_nothing_unchanged(sites, capsys):
    folder, out = sites["c500"]
    status = main(["report", str(folder), "--name", "c500", "--out", str(out),
                   "--close-date", "2026-01-01", "--no-progress"])
    assert status == 0
    assert "0 report(s) built, 7 unchanged, 0 failed" in capsys.readouterr().out


def test_a_failed_report_names_itself_and_the_others_build(sites, tmp_path, capsys):
    folder, _ = sites["c500"]
    bad = tmp_path / "defs.yaml"
    bad.write_text("- {id: broken, cd4_rule: level_lt, assessment_month: 6}\n")  # no threshold
    out = tmp_path / "site"
    status = main(["report", str(folder), "--name", "c500", "--out", str(out), "--definitions",
                   str(bad), "--close-date", "2026-01-01", "--jobs", "2", "--no-progress"])
    captured = capsys.readouterr()
    assert status == 1
    assert "frequency-c500 failed:" in captured.err and "cd4_threshold" in captured.err
    assert (out / "data-quality-c500" / "data-quality-c500.html").is_file()
    assert (out / "cohort-overview-c500" / "cohort-overview-c500.html").is_file()
    assert (out / "index.html").is_file()


def test_the_rerun_line_names_the_options_used_and_no_file_outside_the_site(sites):
    _, out = sites["c500"]
    page = (out / "frequency-c500" / "frequency-c500.html").read_text(encoding="utf-8")
    rerun = re.search(r"<strong>Rerun:</strong> <code>([^<]+)</code>\.", page)
    assert rerun and "--close-date 2026-01-01" in rerun.group(1), rerun
    assert "params/" not in page and ".yaml" not in page
