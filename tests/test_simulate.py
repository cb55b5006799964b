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
from immune_recovery.schemas import SERIOUS_NON_AIDS
from immune_recovery.simcheck.calibration import _passes, calibration_table
from immune_recovery.simcheck.check import baseline_vs_truth
from immune_recovery.simulate.measurement import published_error_model
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
                              "tblDIS", "tblCEP", "tblLTFU", "tblSTUDY"}
    meta = json.loads((small / "truth.json").read_text())
    assert meta["seed"] == 11 and meta["parameters"]["gain_intercept"] > 0
    assert set(meta["true_effects"]) >= {"gain_sqrt_hcv", "ade_hr_per_sqrt_cd4"}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_bytes_do_not_depend_on_the_number_of_workers(tmp_path, fmt):
    for workers in (1, 2):
        sim.write_simulated_cohort(tmp_path / str(workers), 1500, seed=4, fmt=fmt,
                                   workers=workers, chunk_size=400)
    files = sorted(p.name for p in (tmp_path / "1").iterdir())
    assert len(files) == 11
    for name in files:
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name


@pytest.mark.parametrize("dates_as_days", [False, True])
def test_a_chunk_as_arrow_holds_what_its_frames_hold(dates_as_days):
    """The writers' Arrow tables and the in-memory frames come from the same columns: same
    values, missing where missing (NaT, NaN, None), dates as days for CSV."""
    from immune_recovery.simulate.tables import simulate_chunk_columns

    chunk = simulate_chunk_columns(np.random.default_rng(8), 400, 101, sim.SimulationParams())
    frames, truth = chunk.frames()
    arrow = chunk.arrow(dict.fromkeys([*frames, "truth"], dates_as_days))
    assert set(arrow) == {*frames, "truth"}
    for name, frame in {**frames, "truth": truth}.items():
        back = arrow[name].to_pandas()
        assert list(back.columns) == list(frame.columns), name
        assert back["PATIENT"].iloc[0].startswith("S") and len(back) == len(frame), name
        for column in frame.columns[frame.dtypes.astype(str).str.startswith("datetime")]:
            back[column] = pd.to_datetime(back[column]).astype("datetime64[ns]")
        pd.testing.assert_frame_equal(back, frame, check_dtype=False, obj=name)
    assert frames["tblLTFU"]["DROP_D"].isna().any() and arrow["tblLTFU"]["DROP_D"].null_count
    assert str(arrow["tblLAB_CD4"].schema.field("CD4_D").type) == (
        "date32[day]" if dates_as_days else "timestamp[ns]")


def test_simulating_processes_keep_freed_memory():
    """Workers tune glibc's allocator (``mallopt`` accepts every setting on Linux)."""
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert sim.tune_malloc() is True


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


def test_error_model_is_fitted_to_the_published_rows():
    """Scale from CV11 (16.6%), level exponent from CV09's two ranges, recomputed here."""
    model = published_error_model()
    assert np.sqrt(np.expm1(model.log_sd_reference ** 2)) == pytest.approx(0.166)
    width = lambda lo, hi: np.log(hi / lo)
    expected = np.log(width(297, 841) / width(118, 337)) / np.log(500 / 200)
    assert model.level_exponent == pytest.approx(expected)
    assert sim.SimulationParams().cd4_error_log_sd == model.log_sd_reference


def test_measured_baseline_has_the_published_log_error():
    """log(measured / latent) of the baseline count: mean 0 (median-unbiased error) and the SD
    of the fitted model (the baseline visit falls before T0, where the latent count is b^2)."""
    result = sim.simulate_cohort(4000, seed=21)
    cohort = Cohort.from_tables(result.tables, name="sim", close_date="2023-06-30")
    truth = result.truth.set_index("PATIENT")
    patients = patient_table(cohort)
    ratio = np.log(patients["baseline_cd4"] / truth.loc[patients.index, "latent_baseline_cd4"])
    ratio = ratio[np.isfinite(ratio) & (truth.loc[patients.index, "latent_baseline_cd4"] > 50)]
    assert abs(ratio.mean()) < 3 * ratio.std() / np.sqrt(len(ratio))
    assert ratio.std() == pytest.approx(result.params.cd4_error_log_sd, rel=0.05)
    row = baseline_vs_truth(patients, truth).set_index("quantity").loc[
        "mean measured minus latent baseline CD4"]
    assert row["ci_low"] > 0  # the mean of a log-normal count lies above its median


def _dropout_by_latent_cd4(params):
    result = sim.simulate_cohort(6000, seed=8, params=params)
    truth = result.truth
    low = truth["latent_cd4_m12"] < 200
    high = truth["latent_cd4_m12"] >= 500
    lost = truth["dropped_out"] == 1
    return lost[low].mean(), lost[high].mean(), result


def test_loss_to_follow_up_is_informative_and_recorded_in_tblLTFU():
    p = sim.SimulationParams()
    low, high, result = _dropout_by_latent_cd4(p)
    assert low > 1.3 * high
    flat_low, flat_high, _ = _dropout_by_latent_cd4(
        p.with_overrides(ltfu_per_sqrt_cd4=0.0, ltfu_viremic=0.0))
    assert abs(flat_low - flat_high) < 0.05
    ltfu = result.tables["tblLTFU"].set_index("PATIENT")
    truth = result.truth.set_index("PATIENT")
    assert (ltfu["DROP_Y"] == truth["dropped_out"]).all()
    assert ltfu.loc[ltfu["DROP_Y"] == 1, "DROP_D"].notna().all()


def test_visits_thin_out_before_a_loss_to_follow_up():
    result = sim.simulate_cohort(6000, seed=9)
    cd4 = result.tables["tblLAB_CD4"]
    ltfu = result.tables["tblLTFU"].set_index("PATIENT")
    truth = result.truth.set_index("PATIENT")
    start = result.tables["tblBAS"].set_index("PATIENT")["RECART_D"]
    years = (cd4["CD4_D"] - start.loc[cd4["PATIENT"]].to_numpy()).dt.days / 365.25
    end = truth.loc[cd4["PATIENT"], "ltfu_years"].to_numpy()
    lost = (ltfu.loc[cd4["PATIENT"], "DROP_Y"] == 1).to_numpy() & (end > 2)
    window = (years > end - 0.5) & (years < end) & lost
    earlier = (years > end - 1.5) & (years <= end - 1.0) & lost
    # visits every ~0.25 y: 12% missed normally, 40% in the last half-year
    assert window.sum() < 0.8 * earlier.sum()
    assert window.sum() > 0.5 * earlier.sum()


def test_serious_non_aids_events_go_to_tblCEP():
    result = sim.simulate_cohort(3000, seed=10)
    cep = result.tables["tblCEP"]
    assert len(cep) > 0 and set(cep["CEP_ID"]) <= SERIOUS_NON_AIDS
    truth = result.truth.set_index("PATIENT")
    assert (truth.loc[cep["PATIENT"], "snae_years"] <= truth.loc[cep["PATIENT"],
                                                                 "followup_years"]).all()


@pytest.mark.slow
def test_calibration_targets_on_a_small_cohort():
    result = sim.simulate_cohort(6000, seed=4)
    table = calibration_table(Cohort.from_tables(result.tables, name="sim"))
    assert len(table) == 24
    assert table["met"].all(), table.loc[~table["met"], ["target", "simulated", "sim_ci_low",
                                                         "sim_ci_high", "pass_rule"]].to_string()
    assert np.isfinite(table["simulated"]).all()
    # every published figure of a reference row comes from that row, none copied
    rates = table[table["statistic"] == "rate"]
    assert rates["reference_row"].str.startswith("event_rates:").all()
    assert set(table["pass_rule"]) == {"ci", "tolerance", "iqr"}


def test_pass_rules_use_both_intervals():
    row = pd.Series({"statistic": "rate", "published_value": 4.0, "published_ci_low": 3.0,
                     "published_ci_high": 5.33, "published_interval": "95% CI",
                     "tolerance_low": np.nan, "tolerance_high": np.nan})
    assert _passes(row, 5.0, 4.5, 5.55) == ("ci", True)
    assert _passes(row, 8.0, 7.5, 8.5) == ("ci", False)
    # a wide simulated CI rescues the same point estimate
    assert _passes(row, 6.5, 3.0, 14.0) == ("ci", True)
    assert _passes(row, 6.5, 6.2, 6.8) == ("ci", False)
    ours = row.copy()
    ours[["published_interval", "tolerance_low", "tolerance_high"]] = ["", 2.0, 8.0]
    assert _passes(ours, 9.0, 7.9, 10.0) == ("tolerance", True)
    assert _passes(ours, 9.0, 8.1, 10.0) == ("tolerance", False)
