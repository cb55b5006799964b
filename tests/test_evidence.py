"""The evidence report's engine: claims, sources through the manifest, verdict rules."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from immune_recovery import evidence
from immune_recovery.exceptions import EvidenceError
from immune_recovery.formatting import format_ci, readable
from immune_recovery.paths import project_root


# --- the committed claims against the committed reports ------------------------------------

@pytest.fixture(scope="module")
def claims() -> pd.DataFrame:
    return evidence.load_claims()


@pytest.fixture(scope="module")
def store() -> evidence.TableStore:
    return evidence.TableStore(project_root() / "reports")


def test_every_claim_source_exists_in_the_manifest(claims, store):
    checked = evidence.check_sources(claims, store)
    assert len(checked) >= len(claims)
    assert checked["ok"].all(), checked.loc[~checked["ok"], "problem"].tolist()


def test_claims_cover_the_background(claims):
    required = {"frequency_10_20", "late_response", "stalled", "events_inr_vs_cr",
                "events_inr_vs_cnr", "predictor_low_baseline_cd4", "predictor_age",
                "predictor_prior_oi", "predictor_duration", "regimen_ddi_tdf",
                "regimen_zdv_tmp_smx", "intensification", "il2_raises_cd4",
                "il2_most_promising"}
    assert required <= set(claims["claim_id"])
    assert set(claims["claim_id"]) == set(evidence.EVALUATORS)


def test_every_claim_has_evidence_or_says_why_not(claims, store):
    result = evidence.assess_claims(claims, store)
    assert list(result.verdicts["claim_id"]) == list(claims["claim_id"])
    assert set(result.verdicts["verdict"]) <= set(evidence.VERDICTS)
    for row in result.verdicts.itertuples(index=False):
        assert row.reason
        if row.verdict == "not testable":
            assert "Data that would test it" in row.reason
        else:
            assert row.n_test > 0, row.claim_id
    # IL-2 claims face ESPRIT and SILCAAT
    il2 = result.evidence[result.evidence["claim_id"] == "il2_most_promising"]
    assert {"ESPRIT", "SILCAAT"} <= set(il2.loc[il2["role"] == "test", "data"])
    assert result.verdicts.set_index("claim_id").loc["il2_most_promising", "verdict"] == \
        "not supported"


def test_numbers_are_read_not_typed(claims, store):
    """The evidence row for ESPRIT carries the value of the reference table."""
    result = evidence.assess_claims(claims, store)
    trials = pd.read_csv(project_root() / "data/reference/il2_trials.csv")
    esprit = trials.set_index("trial").loc["ESPRIT"]
    row = result.evidence[(result.evidence["claim_id"] == "il2_most_promising")
                          & (result.evidence["data"] == "ESPRIT")].iloc[0]
    assert row["estimate"] == esprit["hr"] and row["ci_high"] == esprit["hr_ci_high"]


# --- sources ---------------------------------------------------------------------------------

def test_parse_sources():
    refs = evidence.parse_sources("a-b/t.csv[x y]; reference/r.csv[z]")
    assert refs[0] == evidence.SourceRef("a-b", "t.csv", ("x", "y"))
    assert refs[1].is_reference and refs[1].columns == ("z",)
    with pytest.raises(EvidenceError, match="not of the form"):
        evidence.parse_sources("a-b/t.csv x y", "c1")
    with pytest.raises(EvidenceError, match="names no columns"):
        evidence.parse_sources("a-b/t.csv[]", "c1")


def _fake_reports(tmp_path, tables: dict[str, pd.DataFrame], parameters: dict | None = None):
    """A reports folder with a manifest listing ``{"report/table.csv": frame}``."""
    records: dict[str, dict] = {}
    for key, frame in tables.items():
        report, table = key.split("/")
        folder = tmp_path / "reports" / report / "tables"
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_csv(folder / table, index=False)
        record = records.setdefault(report, {"id": report, "outputs": {"tables": []},
                                             "parameters": (parameters or {}).get(report, {})})
        record["outputs"]["tables"].append(f"tables/{table}")
    (tmp_path / "reports" / "manifest.json").write_text(
        json.dumps({"reports": list(records.values())}))
    return tmp_path / "reports"


def test_missing_table_or_column_is_named(tmp_path):
    root = _fake_reports(tmp_path, {"r1/t.csv": pd.DataFrame({"x": [1]})})
    store = evidence.TableStore(root, reference_root=tmp_path)
    claims = pd.DataFrame([{"claim_id": "c1", "claim": "c", "sources":
                            "r1/t.csv[x y]; r1/u.csv[x]; r2/t.csv[x]"}])
    checked = evidence.check_sources(claims, store)
    assert list(checked["ok"]) == [False, False, False]
    assert "no column(s) y" in checked["problem"][0]
    assert "has no table 'u.csv'" in checked["problem"][1]
    assert "no report 'r2'" in checked["problem"][2]


def test_assess_refuses_unresolved_sources(tmp_path):
    root = _fake_reports(tmp_path, {"r1/t.csv": pd.DataFrame({"x": [1]})})
    store = evidence.TableStore(root, reference_root=tmp_path)
    claims = pd.DataFrame([{"claim_id": "late_response", "claim": "c", "sources": "r1/t.csv[y]",
                            "data_needed": ""}])
    with pytest.raises(EvidenceError, match="cites missing evidence"):
        evidence.assess_claims(claims, store)


def test_undeclared_reads_are_refused(tmp_path):
    root = _fake_reports(tmp_path, {"r1/t.csv": pd.DataFrame({"x": [1], "y": [2]})})
    store = evidence.TableStore(root, reference_root=tmp_path)
    src = evidence.ClaimSources("c1", evidence.parse_sources("r1/t.csv[x]"), store)
    assert list(src.table("r1/t.csv").columns) == ["x"]
    with pytest.raises(EvidenceError, match="do not declare"):
        src.table("r1/other.csv")


# --- verdict rules on constructed evidence -----------------------------------------------

def _result(*rows: tuple[float, float, float]) -> evidence.ClaimResult:
    result = evidence.ClaimResult()
    for est, low, high in rows:
        result.add(role="test", data="d", quantity="q", source="s", estimate=est, ci_low=low,
                   ci_high=high)
    result.add(role="context", data="sim", quantity="q", source="s", estimate=0.1,
               ci_low=0.05, ci_high=0.2)  # context never decides
    return result


@pytest.mark.parametrize("rows, verdict", [
    ([(2.0, 1.5, 2.5), (1.2, 0.9, 1.6)], "supported"),
    ([(0.5, 0.3, 0.8), (0.9, 0.7, 1.1)], "not supported"),
    ([(2.0, 1.5, 2.5), (0.8, 0.6, 1.1)], "mixed"),
    ([(1.3, 0.9, 1.8), (1.1, 0.8, 1.5)], "mixed"),
    ([], "not testable"),
])
def test_direction_verdict(rows, verdict):
    result = _result(*rows)
    evidence.direction_verdict(result, "above")
    assert result.verdict == verdict


def test_direction_verdict_below_and_null():
    result = _result((-5.0, -9.0, -1.0))
    evidence.direction_verdict(result, "below", null=0.0)
    assert result.verdict == "supported"


def _definitions_table(pcts: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"d{i}" for i in range(len(pcts))],
                         "family": "gain", "assess_month": "6",
                         "reported_n_assessed": 500, "reported_pct_nonresponse": pcts,
                         "source": "Author A et al. J 2001;1:1", "verification": "verified"})


@pytest.mark.parametrize("pcts, verdict", [([12, 15, 18], "supported"),
                                           ([12, 30, 40], "mixed"),
                                           ([30, 40, 50], "not supported")])
def test_frequency_verdict_follows_published_estimates(tmp_path, pcts, verdict):
    freq = pd.DataFrame({"definition": ["seed_gain_le100_m6_12"], "stratum": ["overall"],
                         "n_assessable": [100], "proportion": [0.5], "ci_low": [0.4],
                         "ci_high": [0.6]})
    root = _fake_reports(tmp_path, {"frequency-cpcra002/frequency.csv": freq,
                                    "frequency-synthetic/frequency.csv": freq})
    ref = tmp_path / "ref"
    ref.mkdir()
    _definitions_table(pcts).to_csv(ref / "published_definitions.csv", index=False)
    claims = evidence.load_claims()
    claims = claims[claims["claim_id"] == "frequency_10_20"]
    result = evidence.assess_claims(claims, evidence.TableStore(root, reference_root=ref))
    assert result.verdicts["verdict"].iloc[0] == verdict
    tests = result.evidence[result.evidence["role"] == "test"]
    assert len(tests) == 3


def test_published_proportion_ci_is_wilson():
    table = _definitions_table([17.3])
    table["reported_n_assessed"] = 2236
    out = evidence._published_proportions(table).iloc[0]
    k, n, z = round(0.173 * 2236), 2236, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert out["ci_low"] == pytest.approx(centre - half, abs=1e-9)
    assert out["ci_high"] == pytest.approx(centre + half, abs=1e-9)


@pytest.mark.parametrize("text, expected", [("6-12", (6, 12)), ("8", (8, 8)),
                                            ("48+", (48, np.inf)), ("any", None),
                                            ("time-updated", None)])
def test_month_range(text, expected):
    assert evidence._month_range(text) == expected


# --- formatting ------------------------------------------------------------------------------

def test_format_ci():
    assert format_ci(0.4999, 0.3281, 0.7612) == "0.50 (0.33–0.76)"
    assert format_ci(0.185, 0.178, 0.191, digits=1, percent=True) == "18.5% (17.8–19.1)"
    assert format_ci(1.98) == "1.98"
    assert format_ci(float("nan"), 1, 2) == ""


def test_readable_merges_estimate_and_ci():
    df = pd.DataFrame({"term": ["a"], "hr": [0.5], "ci_low": [0.33], "ci_high": [0.76],
                       "p": [0.01]})
    out = readable(df)
    assert list(out.columns) == ["term", "hr (95% CI)", "p"]
    assert out.iloc[0, 1] == "0.50 (0.33–0.76)"
    assert list(df.columns) == ["term", "hr", "ci_low", "ci_high", "p"]  # input untouched
