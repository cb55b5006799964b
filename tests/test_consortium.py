"""Issue 32: site bundles and their pooling, end to end.

One simulated cohort of 8,000 patients is split at random into four sites; each site is bundled
as a site would bundle its HICDEP export, the bundles are pooled, and the pooled estimates are
compared with the same analyses of all patients together (the two-stage pooling must agree with
the one-stage analysis within its own error). Mismatched, repeated and altered bundles are
refused; no bundle holds a patient id, a date of the export or a count below the minimum.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import numpy as np
import pandas as pd
import pytest

from immune_recovery.cli import main
from immune_recovery.cohort import Cohort
from immune_recovery.consortium import build_bundle, pool_bundles, read_bundle, site_analyses
from immune_recovery.consortium.bundle import disclose
from immune_recovery.consortium.context import consortium_context, definition_features
from immune_recovery.consortium.pool import BundleMismatch, differences, is_primary
from immune_recovery.consortium.sites import (
    SiteDesign,
    simulate_site,
    split_into_sites,
    write_site,
)
from immune_recovery.definitions import select_definitions
from immune_recovery.exceptions import ParameterError
from immune_recovery.simulate import simulate_cohort

N, SEED, SITES, MIN_CELL = 8000, 5, 4, 10
CLOSE = "2026-12-01"
REGIONS = ("Europe", "Europe", "North America", "North America")


@pytest.fixture(scope="module")
def consortium(tmp_path_factory):
    root = tmp_path_factory.mktemp("consortium")
    tables = simulate_cohort(N, SEED).tables
    folders, paths = [], []
    for i, site in enumerate(split_into_sites(tables, [N // SITES] * SITES, seed=1)):
        folders.append(write_site(site, root / f"cohort-{i}"))
        paths.append(root / f"site-{i}.zip")
        build_bundle(folders[-1], f"site-{i}", paths[-1], REGIONS[i], close_date=CLOSE,
                     min_cell=MIN_CELL)
    full = site_analyses(Cohort.from_tables(tables, name="all"), select_definitions())[0]
    return root, folders, paths, full


@pytest.mark.slow
def test_pooled_estimates_agree_with_the_analysis_of_all_patients(consortium):
    _, _, paths, full = consortium
    pooled = pool_bundles([read_bundle(p) for p in paths])
    both = differences(pooled.pooled, full)
    primary = both[[is_primary(tuple(k)) for k in both[["estimand", "definition", "stratum",
                                                        "term"]].to_numpy()]]
    assert len(primary) == 8 and (primary["sites"] == SITES).all()
    # two stages on the same patients: within half an SE of the one-stage estimate
    assert primary["in_se_full"].abs().max() < 0.5
    # and the pooled interval is not narrower than the one-stage one (modified HKSJ)
    assert (primary["se"] >= 0.95 * primary["se_full"]).all()
    assert pooled.sites["patients"].sum() == N
    assert set(pooled.leave_one_out["site_left_out"]) == {f"site-{i}" for i in range(SITES)}
    assert not pooled.metaregression.empty and pooled.metaregression["sites"].eq(SITES).all()


@pytest.mark.slow
def test_no_bundle_holds_an_id_a_date_or_a_small_count(consortium):
    _, folders, paths, _ = consortium
    for folder, path in zip(folders, paths, strict=True):
        ids = set(pd.read_parquet(folder / "tblBAS.parquet")["PATIENT"].astype(str))
        dates = set()
        for table in folder.glob("*.parquet"):
            frame = pd.read_parquet(table)
            for column in frame.columns:
                if column.endswith("_D") or column in ("ART_SD", "ART_ED", "MED_SD", "MED_ED"):
                    dates |= set(frame[column].dropna().dt.strftime("%Y-%m-%d"))
        with zipfile.ZipFile(path) as archive:
            texts = {name: archive.read(name).decode() for name in archive.namelist()}
        words = set(re.findall(r"[A-Za-z0-9-]+", " ".join(texts.values())))
        assert not ids & words
        found = set(re.findall(r"\d{4}-\d{2}-\d{2}", " ".join(texts.values())))
        assert found <= {CLOSE} and not (dates - {CLOSE}) & found
        estimates = pd.read_csv(io.StringIO(texts["estimates.csv"]))
        for column in ("n", "events"):
            counts = estimates[column].dropna()
            assert ((counts == 0) | (counts >= MIN_CELL)).all(), column
        sent = estimates["status"] == "ok"
        assert estimates.loc[~sent, ["estimate", "se"]].isna().all().all()
        quality = pd.read_csv(io.StringIO(texts["quality.csv"]), dtype=str)
        rows = quality["rows"]
        assert rows.str.fullmatch(rf"0|<{MIN_CELL}|\d{{2,}}").all()
        manifest = json.loads(texts["manifest.json"])
        assert manifest["disclosure"]["min_cell"] == MIN_CELL
        assert manifest["cohort"]["patients"] == N // SITES


def test_a_lone_small_stratum_takes_the_next_smallest_with_it():
    base = {"estimand": "frequency", "definition": "d", "term": "proportion",
            "scale": "logit", "estimate": -1.0, "se": 0.1, "status": "ok"}
    rows = pd.DataFrame([
        {**base, "stratum": "overall", "n": 200, "events": 60, "smallest_cell": 60},
        {**base, "stratum": "band=a", "n": 150, "events": 40, "smallest_cell": 40},
        {**base, "stratum": "band=b", "n": 45, "events": 15, "smallest_cell": 15},
        {**base, "stratum": "band=c", "n": 5, "events": 5, "smallest_cell": 5}])
    out = disclose(rows, 10, 10, 4).set_index("stratum")
    assert out.loc["band=c", "status"].startswith("withheld: a count below")
    assert out.loc["band=b", "status"].startswith("withheld: with another level")
    assert out.loc[["overall", "band=a"], "status"].eq("ok").all()
    assert out.loc[["band=b", "band=c"], ["estimate", "se", "n", "events"]].isna().all().all()
    # a zero is shown; a small count beside it is not
    zero = rows.iloc[[0]].assign(n=5, events=0, smallest_cell=5)
    assert disclose(zero, 10, 10, 4)["status"].iloc[0].startswith("withheld")


@pytest.mark.slow
def test_mismatched_repeated_and_altered_bundles_are_refused(consortium, tmp_path):
    root, folders, paths, _ = consortium
    bundles = [read_bundle(p) for p in paths]
    user = tmp_path / "mine.yaml"
    user.write_text("- {id: mine_level_lt250_m12, cd4_rule: level_lt, cd4_threshold: 250, "
                    "assessment_month: 12, vl_rule: none}\n", encoding="utf-8")
    other = build_bundle(folders[0], "site-x", tmp_path / "x.zip", definitions_file=user,
                         close_date=CLOSE)
    with pytest.raises(BundleMismatch, match="definitions"):
        pool_bundles([*bundles[1:], read_bundle(tmp_path / "x.zip")])
    assert other.manifest["definitions_sha256"] != bundles[0].manifest["definitions_sha256"]
    with pytest.raises(BundleMismatch, match="more than once"):
        pool_bundles([bundles[0], bundles[0], bundles[1]])
    changed = _rewrite(paths[1], tmp_path / "schema.zip", "manifest.json",
                       lambda t: t.replace('"bundle_schema": 1', '"bundle_schema": 2'))
    with pytest.raises(BundleMismatch, match="bundle schema"):
        pool_bundles([bundles[0], read_bundle(changed)])
    altered = _rewrite(paths[1], tmp_path / "altered.zip", "estimates.csv",
                       lambda t: t.replace(",ok\n", ",ok \n", 1))
    with pytest.raises(ParameterError, match="does not match its sha256"):
        read_bundle(altered)
    (tmp_path / "junk.zip").write_text("not a zip")
    with pytest.raises(ParameterError, match="not a bundle"):
        read_bundle(tmp_path / "junk.zip")


def _rewrite(source, target, member, change):
    with zipfile.ZipFile(source) as archive:
        texts = {name: archive.read(name).decode() for name in archive.namelist()}
    texts[member] = change(texts[member])
    with zipfile.ZipFile(target, "w") as archive:
        for name, text in texts.items():
            archive.writestr(name, text)
    return target


@pytest.mark.slow
def test_bundle_and_pool_commands_build_a_checked_consortium_site(consortium, tmp_path,
                                                                  capsys):
    root, folders, paths, _ = consortium
    out = tmp_path / "again.zip"
    assert main(["bundle", str(folders[0]), "--name", "site-0", "--out", str(out),
                 "--region", REGIONS[0], "--close-date", CLOSE]) == 0
    assert out.read_bytes() == paths[0].read_bytes()  # the same aggregates, the same bytes
    assert out.with_suffix(".html").is_file()
    site = tmp_path / "site"
    assert main(["pool", *map(str, paths), "--out", str(site), "--name", "test",
                 "--no-progress"]) == 0
    record = json.loads((site / "disclosure.json").read_text())
    assert record["summary"]["outcome"] == "pass"
    report = site / "consortium-test"
    primary = pd.read_csv(report / "tables" / "primary.csv")
    assert len(primary) == 8 and (primary["cohorts"] == SITES).all()
    assert len(list((report / "figures").glob("forest_*.png"))) == 8
    assert not (tmp_path / "site.work").exists()
    capsys.readouterr()
    assert main(["pool", str(paths[0]), "--out", str(tmp_path / "one")]) == 2
    assert "at least two bundles" in capsys.readouterr().err


@pytest.mark.slow
def test_a_small_site_sends_what_it_may_and_pooling_counts_what_it_withheld(tmp_path):
    design = SiteDesign("tiny", "Europe", 60)
    folder = write_site(simulate_site(design, 3, 0), tmp_path / "tiny")
    bundle = build_bundle(folder, "tiny", tmp_path / "tiny.zip", close_date=CLOSE)
    withheld = bundle.estimates["status"].str.startswith("withheld")
    assert withheld.any()
    counts = bundle.estimates[["n", "events"]].stack()
    assert ((counts == 0) | (counts >= 10)).all()
    big = SiteDesign("big", "Europe", 1500)
    big_folder = write_site(simulate_site(big, 3, 1), tmp_path / "big")
    build_bundle(big_folder, "big", tmp_path / "big.zip", close_date=CLOSE)
    pooled = pool_bundles([read_bundle(tmp_path / "tiny.zip"),
                           read_bundle(tmp_path / "big.zip")]).pooled
    assert (pooled["sites"] + pooled["sites_withheld"] + pooled["sites_not_estimable"]
            == 2).all()
    assert pooled["sites_withheld"].gt(0).any()
    assert np.isfinite(pooled.loc[pooled["sites"] > 0, "y"]).all()


@pytest.mark.slow
def test_the_consortium_in_the_published_evidence(consortium):
    _, _, paths, _ = consortium
    pooled = pool_bundles([read_bundle(p) for p in paths])
    context = consortium_context(pooled, "test")
    hr = pooled.pooled.set_index("estimand").loc["outcome_hr"]
    row = context.outcome.iloc[0]
    # the consortium's interval is the pooled one (modified HKSJ), as in its own tables
    assert (row["cohort"], row["cohort_ci_low"], row["cohort_ci_high"]) == pytest.approx(
        (hr["estimate"], hr["ci_low"], hr["ci_high"]))
    assert row["published_studies"] >= 5 and row["pi_low"] < row["published"] < row["pi_high"]
    freq = context.frequency.set_index("definition")
    assert "seed_level_le200_m6_12" in freq.index
    inside = (freq["pi_low"] <= freq["estimate"]) & (freq["estimate"] <= freq["pi_high"])
    assert (freq.loc[inside, "position"] == "within the prediction interval").all()
    assert (freq.loc[~inside, "position"] != "within the prediction interval").all()
    assert {name for name, *_ in context.figures} == {"context_frequency", "context_outcome"}


def test_definitions_the_meta_regression_can_describe():
    by_id = {d.id: d for d in select_definitions()}
    level = definition_features(by_id["seed_level_le200_m6_12"])
    assert level == {"family": "level", "threshold": 200.0, "month": 12.0,
                     "suppressed": True}
    assert definition_features(by_id["thai_rel_lt30_and_level_lt200_m12"]) is None
