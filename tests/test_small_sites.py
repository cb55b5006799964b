"""Small sites: models that cannot be estimated are rows with the reason (not failed reports
or absurd estimates), every report of a 35-patient cohort builds without a warning on its
pages, and the site's index tells the truth about every report of the suite."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from immune_recovery.cli import main  # noqa: E402
from immune_recovery.outcomes import CoxModel  # noqa: E402
from immune_recovery.plots import forest  # noqa: E402
from immune_recovery.riskfactors import NonResponseModel  # noqa: E402


def test_too_few_events_per_parameter_is_a_row_with_the_reason():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"nonresponder": [1, 1] + [0] * 46,
                          "age10": rng.normal(4, 1, 48), "cd4_per100": rng.normal(2, 1, 48)})
    summary = NonResponseModel(["age10", "cd4_per100"]).fit(frame).summary
    assert summary["estimate"].isna().all() and len(summary) == 2
    assert summary["note"].str.startswith("not estimable: 2 patients in the rarer").all()


def test_separation_is_a_row_with_the_reason_not_an_odds_ratio_of_1e22():
    x = np.r_[np.zeros(30), np.ones(30)]
    frame = pd.DataFrame({"nonresponder": x.astype(int), "female": x,
                          "age10": np.tile([3.0, 4.0, 5.0], 20)})
    summary = NonResponseModel(["female", "age10"]).fit(frame).summary
    assert summary["estimate"].isna().all()
    assert "separation" in summary["note"].iloc[0]


def test_a_cox_model_with_three_events_is_a_row_with_the_reason():
    data = pd.DataFrame({"time_years": np.linspace(0.5, 5, 48), "event": [1, 1, 1] + [0] * 45,
                         "age10": np.linspace(2, 6, 48)})
    fit = CoxModel(["age10"], "adjusted").fit(data)
    assert fit.summary["estimate"].isna().all() and "3 events" in fit.summary["note"].iloc[0]
    assert fit.proportional_hazards().empty


def test_a_forest_plot_of_nothing_estimable_says_so():
    table = pd.DataFrame({"label": ["a"], "estimate": [np.nan], "ci_low": [np.nan],
                          "ci_high": [np.nan]})
    fig = forest(table, "estimate", "ci_low", "ci_high")
    assert "No estimate" in fig.axes[0].texts[0].get_text()


@pytest.fixture(scope="module")
def small_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("small")
    cohort = root / "c35"
    assert main(["simulate", "--patients", "35", "--seed", "3", "--out", str(cohort)]) == 0
    out = root / "site"
    status = main(["report", str(cohort), "--name", "c35", "--out", str(out), "--close-date",
                   "2026-01-01", "--jobs", "2", "--no-progress"])
    return cohort, out, status


def test_every_report_of_a_35_patient_site_builds_without_warnings(small_site):
    _, out, status = small_site
    assert status == 0
    pages = sorted(out.glob("*/*.html"))
    assert len(pages) == 7
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "Traceback" not in text and "Warning:" not in text, page.name


def test_a_failed_report_leaves_no_older_version_and_the_index_says_why(small_site, tmp_path,
                                                                       capsys):
    cohort, out, _ = small_site
    assert (out / "frequency-c35").is_dir()
    bad = tmp_path / "defs.yaml"
    bad.write_text("- {id: broken, cd4_rule: level_lt, assessment_month: 6}\n")
    status = main(["report", str(cohort), "--name", "c35", "--out", str(out), "--close-date",
                   "2026-01-01", "--definitions", str(bad), "--no-progress"])
    assert status == 1
    assert not (out / "frequency-c35").exists(), "an older version built from other inputs"
    index = (out / "index.html").read_text()
    assert "Failed:" in index and "cd4_threshold" in index
    assert (out / "data-quality-c35").is_dir()
