"""Disclosure control at publication (immune_recovery.disclosure) and the output checker
(immune_recovery.reporting.outputcheck): each rule, the attacks a reader could make, and
the analysis left untouched."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from lifelines import KaplanMeierFitter  # noqa: E402

from immune_recovery import disclosure  # noqa: E402
from immune_recovery.disclosure import below_min_cell, figures, lone_partner  # noqa: E402
from immune_recovery.frequency import by_stratum  # noqa: E402
from immune_recovery.overview import table_one, table_one_frame  # noqa: E402
from immune_recovery.plots import kaplan_meier  # noqa: E402
from immune_recovery.reporting import notebook  # noqa: E402
from immune_recovery.reporting.build import QUOTED_ABSOLUTE_PATH  # noqa: E402
from immune_recovery.reporting.outputcheck import (  # noqa: E402
    Secrets,
    check_site,
    check_table,
    figure_text,
)
from immune_recovery.reporting.provenance import public_value  # noqa: E402


@pytest.fixture
def control():
    disclosure.set_min_cell(10)
    yield disclosure.rules()
    disclosure.set_min_cell(0)


def frequency_rows() -> pd.DataFrame:
    """A frequency table (its published shape) with a stratum of one, a count of 3 in 662
    and strata that sum to the overall row."""
    df = pd.DataFrame({
        "dataset": "c", "definition": "d1",
        "stratum": ["overall", "sex=female", "sex=male", "sex=unknown"],
        "n_patients": [20000, 10000, 9999, 1], "n_assessable": [662, 400, 261, 1],
        "n_nonresponders": [3, 2, 1, 0]})
    df["proportion"] = df["n_nonresponders"] / df["n_assessable"]
    df["ci_low"], df["ci_high"] = df["proportion"] * 0.5, df["proportion"] * 1.5
    return disclosure.declare(df, partition=["definition", "stratum"],
                              denominators={"proportion": "n_assessable"})


def test_control_off_publishes_the_table_unchanged():
    df = frequency_rows()
    published, suppressed = disclosure.publish(df)
    assert published is df and not suppressed


def test_count_times_proportion_and_zeros_beside_small_counts_are_hidden(control):
    published, suppressed = disclosure.publish(frequency_rows())
    overall = published.iloc[0]
    assert overall["n_nonresponders"] == "<10"
    assert overall["proportion"] == overall["ci_low"] == overall["ci_high"] == "[d]"
    assert published.iloc[3]["n_nonresponders"] == "[s]", "0 of 1 reveals the one patient"
    assert suppressed["<10"] >= 4 and suppressed["[d]"] >= 6
    # the attack: no published share times a published denominator gives a small count
    assert not check_table(published.astype(str), "frequency.csv", "table", 10)


def test_total_minus_the_other_cells_cannot_recover_a_suppressed_stratum(control):
    published, _ = disclosure.publish(frequency_rows())
    levels = published.iloc[1:]["n_patients"]
    hidden = [v for v in levels if isinstance(v, str)]
    assert len(hidden) >= 2, "a lone suppressed level is recovered as total minus the others"


def test_an_implied_count_alone_is_hidden(control):
    """No count column is small, yet the share reveals 3 (and its complement 2 of 100)."""
    df = pd.DataFrame({"n_start": [300, 100], "cumulative_incidence": [0.01, 0.98]})
    published, _ = disclosure.publish(df)
    assert list(published["cumulative_incidence"]) == ["[d]", "[d]"]


def test_percentages_are_never_shown_as_counts(control):
    """1.9% of 3,634 is 69 patients: neither suppressed nor written as '<10'."""
    df = pd.DataFrame({"definition": ["a"], "n_assessable": [3634], "n_nonresponders": [69],
                       "percent_ci": ["1.9 (1.5-2.4)"]})
    published, suppressed = disclosure.publish(df)
    assert published.loc[0, "percent_ci"] == "1.9 (1.5-2.4)" and not suppressed


def test_by_stratum_shows_the_marker_not_the_percentage(control):
    table = by_stratum(frequency_rows(), min_assessable=1)
    assert table.loc["d1", "overall"] == "[d]"
    assert table.loc["d1", "sex=unknown"] == "[d]"


def test_table_one_bands_do_not_sum_to_the_total_minus_one(control):
    patients = pd.DataFrame({"age": np.arange(200) % 50 + 20.0,
                             "sex": ["female"] * 120 + ["male"] * 79 + ["unknown"],
                             "baseline_cd4": np.arange(200) * 3.0})
    published, _ = disclosure.publish(table_one_frame(table_one(patients, groupby=None)))
    sex = published[published["variable"].str.startswith("Sex")].set_index("level")["Overall"]
    assert sex["unknown"] == "<10" and sex["male"] == "[s]" and sex["female"].startswith("120")


def test_models_without_enough_degrees_of_freedom_are_withheld(control):
    df = disclosure.declare(pd.DataFrame({"term": ["a", "b"], "estimate": [1.2, 0.8],
                                          "n": [11, 11]}), dof=9)
    published, _ = disclosure.publish(df)
    assert list(published["estimate"]) == ["[m]", "[m]"]


def test_identifier_and_date_columns_stop_the_table(control):
    with pytest.raises(disclosure.DisclosureError, match="PATIENT"):
        disclosure.publish(pd.DataFrame({"PATIENT": ["S1"], "n": [40]}))
    with pytest.raises(disclosure.DisclosureError, match="visit"):
        disclosure.publish(pd.DataFrame({"visit": pd.to_datetime(["2020-01-01"])}))


def test_the_report_writes_the_protected_table_and_returns_the_true_one(control, tmp_path,
                                                                     monkeypatch):
    """Statistics go on with the true counts (one patient of unknown sex once crashed the
    frequency report: '<5' strings compared with numbers); the CSV is protected."""
    monkeypatch.setenv("IMMUNE_RECOVERY_REPORTS_DIR", str(tmp_path))
    report = notebook.Report("scratch")
    df = frequency_rows()
    returned = report.table(df, "frequency")
    assert returned is df and returned["n_nonresponders"].dtype.kind == "i"
    assert (returned["n_patients"] < 5).any()  # numbers, comparable
    written = pd.read_csv(tmp_path / "scratch" / "tables" / "frequency.csv", dtype=str)
    assert "<10" in set(written["n_nonresponders"])
    record = json.loads((tmp_path / "scratch" / "suppressed.json").read_text())
    assert record["tables/frequency.csv"]["<10"] >= 4


def test_histogram_bars_of_few_patients_are_not_drawn(control):
    fig, ax = plt.subplots()
    values = np.r_[np.full(50, 100.0), np.full(3, 900.0)]
    left_out = figures.histogram(ax, values, bins=[0, 500, 1000])
    assert left_out == 1 and [p.get_height() for p in ax.patches] == [50]
    plt.close(fig)


def test_kaplan_meier_steps_only_after_enough_left_and_stops_with_few_at_risk(control):
    rng = np.random.default_rng(3)
    durations = pd.Series(rng.exponential(2.0, 60))
    kmf = KaplanMeierFitter().fit(durations, np.ones(60, bool))
    times, _ = figures.survival_steps(kmf.event_table, kmf.survival_function_)
    assert len(times) <= 60 // 10 + 1, "one step per ten patients at most"
    at_risk = kmf.event_table["at_risk"].reindex(times)
    assert (at_risk.iloc[1:] >= 10).all()


def test_kaplan_meier_axis_ticks_stay_numbers_and_at_risk_counts_are_protected(control):
    """The x ticks 2 and 4 once became '<5'; now only the numbers at risk are protected."""
    rng = np.random.default_rng(4)
    durations = pd.Series(rng.exponential(3.0, 40))
    fig = kaplan_meier(durations, pd.Series(rng.random(40) < 0.6),
                       pd.Series(["a"] * 20 + ["b"] * 20), title="t")
    main = fig.axes[0]
    fig.canvas.draw()
    assert all("<" not in t.get_text() for t in main.get_xticklabels())
    text = figure_text(fig)
    at_risk = [line for label in text.split("\x1e") if "\n" in label
               for line in label.split("\n")]
    numbers = [int(line.split()[-1]) for line in at_risk if line.strip()
               and line.split()[-1].isdigit()]
    assert numbers and all(n >= 10 or n == 0 for n in numbers)
    plt.close(fig)


def test_shown_rows_of_a_plotted_table_leave_out_small_points(control):
    table = pd.DataFrame({"group": ["a", "a"], "month": [0, 6], "n": [40, 3],
                          "mean": [200.0, 250.0]})
    assert list(figures.shown(table, "n")["month"]) == [0]


def test_public_values_and_the_injected_cell_carry_no_local_path():
    params = {"cohort_path": "/srv/clinic-kampala/export", "n": 3, "files": ["C:\\data\\x"],
              "definitions_file": "params/definitions/x.yaml"}
    shown = public_value(params)
    assert shown["cohort_path"] == "<local path>" and shown["files"] == ["<local path>"]
    assert shown["definitions_file"] == "params/definitions/x.yaml"
    cell = 'cohort_path = "/srv/clinic-kampala/export"\nmin_cell = 10\n'
    assert "kampala" not in QUOTED_ABSOLUTE_PATH.sub('"<local path>"', cell)


def _site(tmp_path):
    site = tmp_path / "site"
    (site / "r1" / "tables").mkdir(parents=True)
    (site / "index.html").write_text("<html><body><p>Reports.</p></body></html>")
    return site


@pytest.mark.parametrize("leak, rule", [
    (("r1/tables/t.csv", "group,patients\na,4\nb,40\n"), "small_count"),
    (("r1/tables/t.csv", "n_assessable,proportion\n662,0.004531722054\n"), "implied_count"),
    (("r1/tables/t.csv", "PATIENT,n\nX,40\n"), "identifier"),
    (("r1/r1.html", "<p>3 early non-responders</p>"), "small_count"),
    (("r1/r1.html", "<table><tr><th>group</th><th>deaths</th></tr>"
                    "<tr><td>a</td><td>2</td></tr></table>"), "small_count"),
    (("r1/report.json", '{"cohort_path": "/home/ana/clinic/export"}'), "path"),
    (("r1/r1.html", "<p>patient P000123 was excluded</p>"), "identifier"),
    (("r1/r1.html", "<p>first visit 2014-03-09</p>"), "date"),
    (("r1/.cohort/tblBAS.parquet", "x"), "file_type"),
    (("r1/data.parquet", "x"), "file_type"),
])
def test_the_checker_fails_each_planted_leak_and_names_file_and_cell(tmp_path, leak, rule):
    site = _site(tmp_path)
    path, text = leak
    (site / path).parent.mkdir(parents=True, exist_ok=True)
    (site / path).write_text(text)
    secrets = Secrets(patient_ids=frozenset({"P000123"}), dates=frozenset({"2014-03-09"}))
    check = check_site(site, 10, secrets)
    assert [f.rule for f in check.findings] == [rule], check.findings
    assert check.findings[0].file == path
    record = json.loads((site / "disclosure.json").read_text())
    assert record["summary"]["outcome"] == "fail" and record["findings"][0]["rule"] == rule


def test_a_clean_site_passes_and_its_record_has_checksums(tmp_path):
    site = _site(tmp_path)
    (site / "r1" / "tables" / "t.csv").write_text("group,patients,proportion\na,<10,[d]\n"
                                                   "b,40,0.5\n")
    check = check_site(site, 10, Secrets(dates=frozenset({"2026-01-01"}),
                                         allowed_dates=frozenset({"2026-01-01"})))
    record = json.loads((site / "disclosure.json").read_text())
    assert not check.findings and record["summary"]["outcome"] == "pass"
    assert {f["file"] for f in record["files"]} == {"index.html", "r1/tables/t.csv"}
    assert all(len(f["sha256"]) == 64 for f in record["files"])
    assert {r["rule"] for r in record["rules"]} >= {"min_cell", "min_dof", "secondary"}


def test_figure_text_is_stored_in_the_png_and_read_by_the_checker(tmp_path, monkeypatch):
    monkeypatch.setenv("IMMUNE_RECOVERY_REPORTS_DIR", str(tmp_path / "site"))
    report = notebook.Report("r1")
    fig, ax = plt.subplots()
    ax.set_title("group a (n=3)")
    report.figure(fig, "f", caption="c", alt="a")
    check = check_site(tmp_path / "site", 10)
    assert [(f.rule, f.file) for f in check.findings] == [("small_count", "r1/figures/f.png")]


def test_a_report_with_a_finding_is_withdrawn_and_the_run_fails(tmp_path):
    from immune_recovery.reporting import cohort_site

    out = tmp_path / "site"
    for rid, text in (("good-x", "group,patients\na,40\n"), ("leaky-x", "group,deaths\na,3\n")):
        (out / rid / "tables").mkdir(parents=True)
        (out / rid / "tables" / "t.csv").write_text(text)
        (out / rid / "report.json").write_text(json.dumps({
            "id": rid, "title": rid, "group": "frequency", "question": "q", "parameters": {},
            "outputs": {"html": f"{rid}.html", "notebook": f"{rid}.ipynb", "tables": [],
                        "figures": []}, "inputs": [], "built_at": "2026-01-01T00:00:00Z",
            "make_target": "immune-recovery report <cohort> --name x"}))
    export = tmp_path / "export"
    (tmp_path / "site.work").mkdir()  # the export's ids and dates, as the command saves them
    Secrets.of_tables([pd.DataFrame({"PATIENT": ["P000001"], "BIRTH_D": ["1970-01-01"]})],
                      None).save(tmp_path / "site.work" / cohort_site.SECRETS)
    result = cohort_site.SiteResult(out=out, built=["good-x", "leaky-x"])
    cohort_site._check(out, result, 10, export, tmp_path / "site.work", "2025-12-31")
    assert result.built == ["good-x"] and "leaky-x/tables/t.csv" in result.failed["leaky-x"]
    assert not (out / "leaky-x").exists() and (out / "good-x").is_dir()
    assert result.checked.record()["summary"]["outcome"] == "pass"


def test_the_checker_knows_the_not_assessable_reasons_are_counts():
    """not_assessable.csv once published no_rna = 1: the column name was not read as a
    count."""
    table = pd.DataFrame({"definition": ["a"], "no_cd4_at_assessment": ["56"],
                          "no_rna": ["1"], "rna_limit_above_cutoff": ["0"]})
    assert [f.where for f in check_table(table, "not_assessable.csv", "table", 10)] == \
        ["table, row 1, column no_rna"]


def test_the_record_and_the_index_never_repeat_the_leaked_value(tmp_path):
    """disclosure.json is published: it names rule, file and cell, not the value found."""
    site = _site(tmp_path)
    (site / "r1" / "r1.html").write_text("<p>patient P000123 was excluded</p>")
    check = check_site(site, 10, Secrets(patient_ids=frozenset({"P000123"})))
    assert check.findings and "P000123" not in (site / "disclosure.json").read_text()
    assert "P000123" in check.findings[0].describe()
    assert "P000123" not in check.findings[0].describe(with_value=False)


def test_an_error_message_that_names_a_patient_never_reaches_the_index(tmp_path):
    from immune_recovery.reporting import cohort_site

    out = tmp_path / "site"
    out.mkdir()
    (tmp_path / "site.work").mkdir()  # the export's ids and dates, as the command saves them
    Secrets.of_tables([pd.DataFrame({"PATIENT": ["P000001"], "BIRTH_D": ["1970-01-01"]})],
                      None).save(tmp_path / "site.work" / cohort_site.SECRETS)
    result = cohort_site.SiteResult(out=out)
    result.suite["frequency-x"] = {"id": "frequency-x", "title": "Frequency",
                                   "group": "frequency", "question": "q"}
    result.failed["frequency-x"] = "ValueError: patient P000001 has no count"
    cohort_site._check(out, result, 10, tmp_path / "export", tmp_path / "site.work", None)
    assert "P000001" not in (out / "index.html").read_text()
    assert result.checked.record()["summary"]["outcome"] == "pass"
    assert "P000001" in result.failed["frequency-x"], "the console still gets the error"


def test_a_lone_hidden_part_of_a_partition_takes_the_smallest_shown_part_with_it():
    # one hidden part: the smallest shown positive part goes with it (zeros reveal nothing)
    assert lone_partner([True, False, False, False], [3, 40, 0, 25]) == 3
    # the parts that may not be hidden (a remainder) are never chosen
    assert lone_partner([False, False, True], [12, 40, 5], [True, True, False]) == 0
    # none or two hidden: nothing more to hide
    assert lone_partner([False, False], [3, 4]) is None
    assert lone_partner([True, True, False], [3, 4, 50]) is None
    assert lone_partner([True, False], [3, 0]) is None


def test_the_minimum_cell_judges_counts_one_to_k_minus_one():
    assert list(below_min_cell(np.array([0, 1, 9, 10, np.nan]), 10)) == [False, True, True,
                                                                        False, False]
    assert not below_min_cell(5, 0) and not below_min_cell(np.array([5]), 0).any()


def test_the_checker_in_two_processes_finds_and_records_what_one_does(tmp_path):
    site = _site(tmp_path)
    files = {"r1/tables/a.csv": "group,deaths\na,3\nb,40\n",
             "r1/tables/b.csv": "group,patients\na,40\n",
             "r1/r1.html": "<p>patient P000123 was seen on 2014-03-09</p>",
             "r2/report.json": '{"cohort_path": "/home/ana/clinic/export"}',
             "r2/tables/c.csv": "group,patients,proportion\na,<10,[d]\n",
             "r2/data.parquet": "x"}
    for path, text in files.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_text(text)
    secrets = Secrets(patient_ids=frozenset({"P000123"}), dates=frozenset({"2014-03-09"}))
    one = check_site(site, 10, secrets)
    record = (site / "disclosure.json").read_text()
    two = check_site(site, 10, secrets, jobs=2)
    assert len(one.findings) >= 5 and two.findings == one.findings
    assert (site / "disclosure.json").read_text() == record
