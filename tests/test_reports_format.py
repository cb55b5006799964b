"""Issue 33, first step: tables formatted once for every report, numbered and captioned from
one glossary; the page without code; PDF and Word beside every page, read back by the output
checker."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from immune_recovery import disclosure  # noqa: E402
from immune_recovery.formatting import display_frame, format_p  # noqa: E402
from immune_recovery.paths import project_root  # noqa: E402
from immune_recovery.plots import legend  # noqa: E402
from immune_recovery.reporting import answers, notebook, printed  # noqa: E402
from immune_recovery.reporting.build import arrange  # noqa: E402
from immune_recovery.reporting.glossary import glossary, table_caption  # noqa: E402
from immune_recovery.reporting.outputcheck import (  # noqa: E402
    LOCAL_ADDRESS,
    Secrets,
    check_site,
    printed_raw,
    printed_text,
)
from immune_recovery.reporting.printed import available_formats, print_report  # noqa: E402
from immune_recovery.reporting.printserver import PrintServer  # noqa: E402


def test_p_values_read_as_a_paper_writes_them():
    assert [format_p(p) for p in (0.0, 1e-9, 0.0004, 0.001, 0.0123, 0.43, np.nan, None)] == \
        ["< 0.001", "< 0.001", "< 0.001", "0.001", "0.01", "0.43", "", ""]


def test_a_table_shows_no_row_numbers_no_python_literals_and_integers_as_integers():
    df = pd.DataFrame({"definition": ["a", "b"], "n": [13790.0, 310.0], "month": [6.0, 12.0],
                       "hr": [2.84, 0.61], "ci_low": [2.43, 0.49], "ci_high": [3.32, 0.76],
                       "p": [1e-9, 0.0432], "converged": [True, False], "note": [None, "x"],
                       "share": [0.1234, np.nan]})
    text, numeric = display_frame(df)
    assert list(text.columns) == ["definition", "n", "month", "hr (95% CI)", "p",
                                  "converged", "note", "share"]
    assert text.to_dict("list") == {
        "definition": ["a", "b"], "n": ["13790", "310"], "month": ["6", "12"],
        "hr (95% CI)": ["2.84 (2.43–3.32)", "0.61 (0.49–0.76)"], "p": ["< 0.001", "0.04"],
        "converged": ["yes", "no"], "note": ["", "x"], "share": ["0.12", ""]}
    assert numeric == [False, True, True, True, True, False, False, True]
    html = notebook.table_html(df)
    assert "<th></th>" not in html and not re.search(r">(None|True|False|nan)<", html)
    assert 'class="num">13790<' in html and 'class="text">a<' in html


def test_a_named_index_is_kept_as_a_column():
    kappa = pd.DataFrame([[1.0, 0.5], [0.5, 1.0]], columns=["a", "b"],
                         index=pd.Index(["a", "b"], name="definition"))
    text, _ = display_frame(kappa)
    assert list(text.columns) == ["definition", "a", "b"] and text["a"].tolist() == ["1.00",
                                                                                  "0.50"]


def test_tables_and_figures_are_numbered_and_captioned_from_the_glossary(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("IMMUNE_RECOVERY_REPORTS_DIR", str(tmp_path))
    notebook.setup()
    report = notebook.Report("format-test")
    first = report.table(pd.DataFrame({"n": [1]}), "kappa")
    assert "<caption>Table 1. Agreement between definitions (Cohen&#x27;s kappa) " \
           "(tables/kappa.csv)</caption>" in notebook._html(first)
    assert "<caption>Table 2.</caption>" in notebook._html(pd.DataFrame({"n": [2]}))
    unshown = report.figure(plt.subplots()[0], "g", caption="Not shown.", alt="g")
    fig, _ = plt.subplots()
    shown = report.figure(fig, "f", caption="A curve.", alt="a curve")
    assert "<figcaption>Figure 1. A curve.</figcaption>" in shown._repr_html_()
    assert repr(shown) == "Figure 1. A curve. (figures/f.png)"  # numbered when first shown
    assert unshown.numbered == "Figure 2. Not shown."
    notebook.setup()
    assert "<caption>Table 1." in notebook._html(pd.DataFrame({"n": [3]}))  # per report


def test_every_table_a_report_writes_has_a_caption_in_the_glossary():
    names = {p.stem for p in (project_root() / "reports").glob("*/tables/*.csv")}
    assert names, "no reports"
    assert sorted(names - set(glossary()["tables"])) == []
    assert table_caption("ipcw_x") == "Inverse probability of censoring weighting x"


def test_pages_hold_no_code_and_link_their_printed_versions():
    page = (project_root() / "reports" / "evidence" / "evidence.html").read_text()
    assert "ir-code" not in page and "from immune_recovery import" not in page
    assert 'href="evidence.pdf">PDF</a>' in page and 'href="evidence.docx">Word</a>' in page


PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>t</title></head>
<body><nav class="ir-nav"><a href="x">nav</a></nav><main><h1>A report</h1>
<p>Patient P-0042 was seen on 2019-03-04; 4 patients died (<a href="r.json">record</a>).</p>
<table class="dataframe"><caption>Table 1. Counts</caption><thead><tr><th>n</th></tr></thead>
<tbody><tr><td>12</td></tr></tbody></table></main></body></html>"""


@pytest.mark.slow
def test_the_print_server_prints_what_the_builder_would(tmp_path, monkeypatch):
    assert "pdf" in available_formats().files  # make test installs Chromium
    html = tmp_path / "r.html"
    html.write_text(PAGE, encoding="utf-8")
    printed.render_pdf(html, tmp_path / "here.pdf", "A report")
    with PrintServer() as server:
        assert server.ready()
        monkeypatch.setenv(printed.PRINT_SERVER_ENV, server.address)
        with monkeypatch.context() as here:  # no Chromium in this process: the server prints
            here.setattr(printed, "launch_chromium", lambda playwright: 1 / 0)
            for name in ("served.pdf", "served-again.pdf"):
                printed.render_pdf(html, tmp_path / name, "A report")
    assert not server.folder.exists()
    text = printed_text(tmp_path / "here.pdf")
    assert "Table 1. Counts" in " ".join(text.split())
    for name in ("served.pdf", "served-again.pdf"):
        assert printed_text(tmp_path / name) == text
        assert b"(D:20260101000000" in (tmp_path / name).read_bytes()
    printed.render_pdf(html, tmp_path / "alone.pdf", "A report")  # the server gone: here
    assert printed_text(tmp_path / "alone.pdf") == text


@pytest.mark.slow
def test_printed_versions_are_made_and_read_back_by_the_output_checker(tmp_path):
    can = available_formats()
    assert set(can.files) == {"pdf", "docx"}, can.skipped  # make test installs both
    site = tmp_path / "site" / "r"
    site.mkdir(parents=True)
    html = site / "r.html"
    html.write_text(PAGE, encoding="utf-8")
    done = print_report(html, "A report")
    assert done.files == {"pdf": "r.pdf", "docx": "r.docx"} and not done.skipped
    for suffix in (".pdf", ".docx"):
        text = " ".join(printed_text(html.with_suffix(suffix)).split())
        assert "Table 1. Counts" in text and "P-0042" in text
    assert "nav" not in printed_text(html.with_suffix(".docx"))  # the navigation left out
    # a relative link is printed as text, never as this machine's file:// address
    assert not LOCAL_ADDRESS.search(printed_raw(html.with_suffix(".pdf")))
    assert not LOCAL_ADDRESS.search(printed_raw(html.with_suffix(".docx")))
    with zipfile.ZipFile(html.with_suffix(".docx")) as archive:
        core = archive.read("docProps/core.xml").decode()
    assert "2026-01-01" in core  # SOURCE_DATE_EPOCH: the same page gives the same dates
    assert b"(D:20260101000000" in html.with_suffix(".pdf").read_bytes()
    secrets = Secrets(patient_ids=frozenset({"P-0042"}), dates=frozenset({"2019-03-04"}))
    found = {(Path(f.file).suffix, f.rule) for f in
             check_site(tmp_path / "site", 10, secrets).findings}
    assert found >= {(".pdf", "identifier"), (".pdf", "date"), (".docx", "identifier"),
                     (".docx", "date")}
    # made from the checked page, or refused: a page changed after printing, or missing
    html.write_text(PAGE.replace("Patient P-0042", "A person"), encoding="utf-8")
    found = {(Path(f.file).suffix, f.rule, f.value) for f in
             check_site(tmp_path / "site", 10, Secrets()).findings}
    assert (".pdf", "not_on_page", "P-0042, Patient") in found
    assert (".docx", "not_on_page", "P-0042, Patient") in found
    pdf = html.with_suffix(".pdf").read_bytes()
    html.with_suffix(".pdf").write_bytes(pdf + b"/URI (file:///home/someone/r.json)\n")
    assert ("path", "link or metadata") in {(f.rule, f.where) for f in
                                            check_site(tmp_path / "site", 10, Secrets()).findings}
    html.with_suffix(".pdf").write_bytes(pdf)
    html.unlink()
    found = {(Path(f.file).suffix, f.rule) for f in
             check_site(tmp_path / "site", 10, Secrets()).findings}
    assert found == {(".pdf", "not_on_page"), (".docx", "not_on_page")}


@pytest.mark.slow
def test_the_report_kernel_prints_no_start_up_warning(tmp_path):
    notebook_path = tmp_path / "n.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]),
                   notebook_path)
    script = ("import papermill, sys; from immune_recovery.reporting.kernel import "
              "running_interpreter_kernel; papermill.execute_notebook(sys.argv[1], sys.argv[2],"
              " kernel_name=running_interpreter_kernel(), progress_bar=False)")
    run = subprocess.run([sys.executable, "-c", script, str(notebook_path),
                          str(tmp_path / "out.ipynb")], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "without encryption" not in run.stderr and "WARNING" not in run.stderr


def test_legends_sit_outside_the_data():
    fig, ax = plt.subplots()
    for i in range(4):
        ax.plot([0, 1, 2, 3], [i, i + 1, i + 2, i + 3], label=f"curve {i}")
    legend(ax, frameon=False, loc="upper left")  # a placement asked for is not honoured
    fig.canvas.draw()
    box, axes = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert box.x0 >= axes.x1  # right of the axes: no curve, point or band under it
    plt.close(fig)
    direct = [p.name for p in (project_root() / "src").rglob("*.py") if p.name != "plots.py"
              and re.search(r"(?<!disclosure)\.legend\(", p.read_text())]
    assert direct == [], "every legend through plots.legend"


def test_the_answer_comes_first_and_the_parameters_last():
    body = ('<header class="ir-head"><h1>T</h1></header><section class="ir-params">P'
            '</section><h2>Details</h2><section class="ir-answer">A</section><p>end</p>')
    assert arrange(body) == ('<header class="ir-head"><h1>T</h1></header><section '
                             'class="ir-answer">A</section><h2>Details</h2><p>end</p>'
                             '<section class="ir-params">P</section>')


def test_the_frequency_answer_writes_no_value_disclosure_control_hides():
    freq = pd.DataFrame({
        "definition": ["a", "b", "c"], "stratum": "overall", "n_patients": 400,
        "n_assessable": [300, 250, 40], "n_nonresponders": [60, 25, 4],
        "proportion": [0.2, 0.1, 0.1], "ci_low": [0.16, 0.07, 0.04],
        "ci_high": [0.25, 0.14, 0.23]})
    disclosure.set_min_cell(0)
    assert "from 10.0% (7.0–14.0) under `b` to 20.0% (16.0–25.0) under `a`" in \
        answers.frequency_answer(freq, 20)
    disclosure.set_min_cell(10)
    try:
        text = answers.frequency_answer(freq, 20)
    finally:
        disclosure.set_min_cell(0)
    assert "Across the 2 definitions" in text and "under `c`" not in text
    assert "1 more definitions are withheld by disclosure control" in text


def test_definitions_show_by_readable_name_with_ids_in_the_footnote():
    notebook.setup()
    out = notebook.table_html(pd.DataFrame({
        "definition": ["grabar2000_gain_m6", "seed_level_le200_m6_12", "grabar2000_gain_m6",
                       "not a definition"], "n": [1, 2, 3, 4]}))
    assert "<td class=\"text\">CD4 gain &lt; 50 at month 6 (Grabar 2000)<sup>1</sup></td>" \
        in out
    assert "CD4 ≤ 200 at month 12 (seed)<sup>2</sup>" in out
    assert out.count("<sup>1</sup>") == 2 and "not a definition</td>" in out
    assert ("Definition ids: 1 = grabar2000_<wbr>gain_<wbr>m6; 2 = seed_<wbr>level_<wbr>"
            "le200_<wbr>m6_<wbr>12</td>") in out


def test_every_catalogue_definition_has_its_own_readable_name():
    from immune_recovery.definitions import load_catalogue
    names = [d.readable_name() for d in load_catalogue().values()]
    assert len(set(names)) == len(names)
    assert not [n for n in names if "_" in n or "<=" in n or "+/-" in n]


def test_headers_are_spelled_out_with_their_units():
    notebook.setup()
    out = notebook.table_html(pd.DataFrame({
        "group": ["a"], "median_followup_months": [3.5], "person_years": [10.0],
        "cumulative_incidence": [0.2], "ci_low": [0.1], "ci_high": [0.3], "unmapped_name": [1]}))
    heads = re.findall(r"<th class=[^>]*>(.*?)</th>", out.replace("<wbr>", ""))
    assert heads == ["group", "Median follow-up (months)", "Person-years",
                     "Cumulative incidence (95% CI)", "unmapped_name"]


def test_only_tables_of_many_columns_may_break_words_when_printed():
    from immune_recovery.reporting.style import PRINT_CSS
    notebook.setup()
    narrow = notebook.table_html(pd.DataFrame({"a": ["sustained virological response"]}))
    dense = notebook.table_html(pd.DataFrame({f"c{i}": [i] for i in
                                              range(notebook.WIDE_COLUMNS)}))
    assert "dense" not in narrow and 'class="dataframe ir-table dense"' in dense
    assert "main table.dataframe:not(.dense) td{overflow-wrap:break-word;word-break:normal}" \
        in PRINT_CSS


def _hidden_small_counts():
    disclosure.set_min_cell(10)


def test_cohort_answers_are_computed_from_the_tables_and_respect_disclosure_control():
    odds = pd.DataFrame({
        "term": ["age10", "female", "x"], "label": ["Age, per 10 years", "Female sex", "X"],
        "measure": "OR", "estimate": [1.32, 0.92, 2.0], "ci_low": [1.26, 0.83, 0.5],
        "ci_high": [1.39, 1.01, 8.0], "p": [0.001, 0.09, 0.3], "n": 500})
    text = answers.risk_factor_answer(odds, "grabar2000_gain_m6")
    assert text.startswith("Under CD4 gain < 50 at month 6 (Grabar 2000) "
                           "(`grabar2000_gain_m6`), in 500 patients")
    assert "Age, per 10 years: 1.32 (1.26–1.39)." in text
    assert "No clear association (CI including 1): Female sex, X." in text
    followup = pd.DataFrame({"group": ["a", "overall"], "patients": [300, 305],
                             "person_years": [900.5, 910.0], "median_followup_months": [30, 30],
                             "deaths": [0, 0], "aids_events": [4, 4], "endpoint_events": 0,
                             "drop_outs": 0})
    assert answers.overview_answer(followup) == (
        "The cohort holds 305 patients, 910.0 person-years of follow-up, 30 months of median "
        "follow-up. Events recorded: 4 AIDS-defining events.")
    recon = pd.DataFrame({"table": ["tblBAS", "tblLAB_CD4"], "file": ["b.csv", "c.csv"],
                          "rows_read": [300, 4000], "rows_used": [300, 3996],
                          "rows_excluded": [0, 4], "rows_flagged": [20, 30],
                          "reconciles": [True, True]})
    checks = pd.DataFrame({"rule": ["CW001", "CW008"], "description": ["out of range", "high"],
                           "severity": ["error", "warning"], "rows": [4, 50]})
    assert answers.quality_answer(recon, checks) == (
        "Rows of the 2 tables: 4300 read, 4296 used, 4 excluded, 50 flagged for review. "
        "Every table reconciles (rows read = used + excluded). Rules that excluded rows, most "
        "first: CW001 (out of range): 4.")
    _hidden_small_counts()
    try:
        quality = answers.quality_answer(recon, checks)
        overview = answers.overview_answer(followup)
    finally:
        disclosure.set_min_cell(0)
    assert "excluded: withheld by disclosure control" in quality and "4 excluded" not in quality
    assert "CW001" not in quality and "Rules that" not in quality and "4 AIDS" not in overview


def test_the_trajectory_answer_falls_back_to_the_upper_bound_and_names_why():
    late = pd.DataFrame({
        "threshold": [200, 200, 200], "month": [24, 48, 48],
        "method": ["aalen-johansen, confirmed on 2 counts"] * 2
        + ["aalen-johansen, one count (upper bound)"],
        "early_nonresponders": 400, "cumulative_incidence": [0.1, np.nan, 0.3],
        "ci_low": [0.07, np.nan, 0.25], "ci_high": [0.14, np.nan, 0.35],
        "note": ["", "not estimable: too few counts", ""]})
    plateau = pd.DataFrame({"group": ["cd4_responder"], "years": [5.0], "cd4": [600.4],
                            "ci_low": [550.0], "ci_high": [650.2]})
    stalled = pd.DataFrame({"patients_with_slope": [100], "flat_slope": [40],
                            "proportion": [0.4], "ci_low": [0.31], "ci_high": [0.5]})
    text = answers.trajectory_answer(late, plateau, stalled, "seed_level_le200_m6_12", 2.0)
    assert ("among 400 early non-responders under CD4 ≤ 200 at month 12 (seed) "
            "(`seed_level_le200_m6_12`), the cumulative incidence of a confirmed CD4 count "
            "above each threshold") in text and "above 200 by month 24: 10.0% (7.0–14.0)" in text
    assert "cd4 responder 600 (550–650)" in text
    assert "after 2 years) in 40.0% (31.0–50.0) of the early non-responders" in text
    bound = answers.trajectory_answer(late.iloc[1:], plateau, stalled, "x", 2.0)
    assert "confirmed CD4 count above the thresholds could not be estimated (not estimable: " \
           "too few counts)" in bound and "above 200 by month 48: 30.0% (25.0–35.0)" in bound


def test_project_answers_read_the_pooled_tables():
    meta = pd.DataFrame({
        "endpoint": ["death", "death"], "model": ["random effects (REML), HKSJ CI",
                                                  "random effects (REML), Wald CI"],
        "estimate": [0.96, 0.96], "ci_low": [0.35, 0.8], "ci_high": [2.62, 1.1],
        "k": [2, 2], "flag": ["few_studies", "few_studies"]})
    text = answers.il2_answer(meta)
    assert "death: 0.96 (0.35–2.62) (2 trials)." in text and "0.80" not in text
    assert "between-trial variance poorly estimated" in text
    sizes = pd.DataFrame({"endpoint": ["CD4 change", "Death (Cox)"],
                          "effect": ["+50 cells/mm3", "HR 0.7"], "alpha": 0.05, "power": 0.8,
                          "events_needed": [np.nan, 247], "patients_needed": [88, 2112]})
    assert answers.trial_design_answer(sizes) == (
        "Patients needed in total (two-sided α 0.05, power 80%) — CD4 change: +50 cells/mm3: "
        "88 patients; Death (Cox): HR 0.7: 2112 patients (247 events).")
    frequency = pd.DataFrame({"position": ["within the prediction interval"] * 2
                              + ["above the prediction interval", "no published prediction"]})
    outcome = pd.DataFrame({"estimate of": ["hazard ratio"], "published_studies": [9],
                            "published": [2.33], "published_ci_low": [1.52],
                            "published_ci_high": [3.58], "cohort": [2.43],
                            "cohort_ci_low": [2.18], "cohort_ci_high": [2.71],
                            "position": ["within the prediction interval"]})
    assert answers.in_context_answer(frequency, outcome) == (
        "Of the 3 definitions with a published prediction, the cohort's non-response frequency "
        "fell within the prediction interval for 2, above the prediction interval for 1. The "
        "cohort's hazard ratio was 2.43 (2.18–2.71), against 2.33 (1.52–3.58) pooled over 9 "
        "published studies (within the prediction interval).")
    cox = pd.DataFrame({"model": ["primary"], "term": ["arm[b]"], "label": ["Arm: b vs a"],
                        "estimate": [0.5], "ci_low": [0.33], "ci_high": [0.76]})
    assert "Hazard ratio of AIDS-defining event or death (95% CI) in the models it allows: " \
           "Arm: b vs a: 0.50 (0.33–0.76) (primary)." in answers.trial_answer(
               cox, "AIDS-defining event or death")


def test_every_report_notebook_opens_with_a_computed_answer():
    missing = [p.name for p in sorted((project_root() / "notebooks").glob("*.ipynb"))
               if "report.summary(" not in p.read_text(encoding="utf-8")]
    assert missing == []
    pages = sorted((project_root() / "reports").glob("*/*.html"))
    assert pages and [p.parent.name for p in pages
                      if 'class="ir-answer"' not in p.read_text(encoding="utf-8")] == []


def test_the_word_file_has_one_title_no_anchor_marks_and_small_table_text(tmp_path):
    from immune_recovery.reporting.printed import WORD_TABLE_HALF_POINTS, render_docx
    html = tmp_path / "r.html"
    html.write_text(PAGE.replace("<title>t</title>", "<title>A report</title>").replace(
        "<h1>A report</h1>", '<h1>A report<a class="anchor-link" href="#a">¶</a></h1>'),
        encoding="utf-8")
    render_docx(html, tmp_path / "r.docx")
    with zipfile.ZipFile(tmp_path / "r.docx") as archive:
        document = archive.read("word/document.xml").decode()
        styles = archive.read("word/styles.xml").decode()
    assert "¶" not in document and document.count(">A report<") == 1
    compact = re.search(r'w:styleId="Compact".*?</w:style>', styles, re.DOTALL).group(0)
    assert f'<w:sz w:val="{WORD_TABLE_HALF_POINTS}" />' in compact
