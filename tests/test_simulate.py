"""The simulator: determinism, valid HICDEP output, consistency with its truth, calibration."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import immune_recovery.simulate as sim
from immune_recovery import load_cohort, patient_table
from immune_recovery.cli import main
from immune_recovery.cohort import Cohort
from immune_recovery.simcheck.calibration import calibration_table
from immune_recovery.simcheck.check import baseline_vs_truth
from immune_recovery.simulate.truth import load_truth


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "a"
    assert main(["simulate", "--patients", "1500", "--seed", "11", "--out", str(out)]) == 0
    return out


def test_same_seed_same_bytes_other_seed_other_bytes(small, tmp_path):
    again = tmp_path / "b"
    other = tmp_path / "c"
    main(["simulate", "--patients", "1500", "--seed", "11", "--out", str(again)])
    main(["simulate", "--patients", "1500", "--seed", "12", "--out", str(other)])
    files = sorted(p.name for p in small.iterdir())
    assert files == sorted(p.name for p in again.iterdir())
    for name in files:
        assert (small / name).read_bytes() == (again / name).read_bytes(), name
    assert (small / "tblLAB_CD4.csv").read_bytes() != (other / "tblLAB_CD4.csv").read_bytes()


def test_output_validates_without_exclusions(small, capsys):
    assert main(["validate", str(small), "--strict"]) == 0
    cohort = load_cohort(small)
    assert cohort.n_patients == 1500
    assert cohort.present == {"tblBAS", "tblART", "tblMED", "tblLAB_CD4", "tblLAB_RNA",
                              "tblDIS", "tblLTFU", "tblSTUDY"}
    meta = json.loads((small / "truth.json").read_text())
    assert meta["seed"] == 11 and meta["parameters"]["gain_intercept"] > 0
    assert set(meta["true_effects"]) >= {"gain_sqrt_hcv", "ade_hr_per_sqrt_cd4"}


def test_parquet_output_reads_like_csv(tmp_path):
    main(["simulate", "--patients", "300", "--seed", "5", "--out", str(tmp_path / "csv")])
    main(["simulate", "--patients", "300", "--seed", "5", "--out", str(tmp_path / "pq"),
          "--format", "parquet"])
    a, b = load_cohort(tmp_path / "csv"), load_cohort(tmp_path / "pq")
    for name in a.present:
        pd.testing.assert_frame_equal(a.tables[name].reset_index(drop=True),
                                      b.tables[name].reset_index(drop=True), check_dtype=False)


def test_chunks_are_numbered_continuously_and_deterministic(monkeypatch):
    monkeypatch.setattr(sim, "CHUNK_SIZE", 40)
    first = sim.simulate_cohort(100, seed=3)
    second = sim.simulate_cohort(100, seed=3)
    assert first.tables["tblBAS"]["PATIENT"].tolist() == [f"S{i:07d}" for i in range(1, 101)]
    for name, df in first.tables.items():
        pd.testing.assert_frame_equal(df, second.tables[name])


def test_tables_agree_with_the_truth(small):
    cohort = load_cohort(small)
    truth, _ = load_truth(small)
    patients = patient_table(cohort)
    assert (patients["hcv"].to_numpy() == truth.loc[patients.index, "hcv"].to_numpy()).all()
    prior = patients["prior_aids"].astype(bool).to_numpy()
    assert (prior == (truth.loc[patients.index, "prior_aids"].to_numpy() == 1)).all()
    # TMP/SMX only for patients whose latent baseline count was below 200
    on_tmp = patients["tmp_smx"].to_numpy()
    assert (truth.loc[patients.index, "latent_baseline_cd4"].to_numpy()[on_tmp] < 200).all()
    # deaths in tblLTFU are the truth's deaths within follow-up
    died = truth["death_years"] <= truth["followup_years"] + 1e-9
    assert int(patients["died"].sum()) == int(died.sum())


def test_measured_baseline_bias_equals_the_measurement_variance():
    """(b + e)^2 has mean b^2 + sd^2: the estimator must recover sd^2 = 0.81 cells/mm3."""
    result = sim.simulate_cohort(4000, seed=21)
    cohort = Cohort.from_tables(result.tables, name="sim")
    truth = result.truth.set_index("PATIENT")
    row = baseline_vs_truth(patient_table(cohort), truth).set_index("quantity").loc[
        "mean measured minus latent baseline CD4"]
    expected = result.params.measurement_sd ** 2
    assert row["ci_low"] <= expected <= row["ci_high"]


@pytest.mark.slow
def test_calibration_targets_on_a_small_cohort():
    result = sim.simulate_cohort(6000, seed=4)
    table = calibration_table(Cohort.from_tables(result.tables, name="sim"))
    assert len(table) == 11
    overlaps = (table["sim_ci_high"] >= table["tolerance_low"]) & (
        table["sim_ci_low"] <= table["tolerance_high"])
    assert overlaps.all(), table.loc[~overlaps, ["target", "simulated", "sim_ci_low",
                                                 "sim_ci_high"]].to_string()
    assert np.isfinite(table["simulated"]).all()
