"""The bundled trial data: manifest, checksums, and counts that match the publications."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from immune_recovery import DataChecksumError, load_cohort, patient_table
from immune_recovery.checksums import sha256_file
from immune_recovery.datasets import CONVERTERS, read_manifest
from immune_recovery.datasets.sources import verify

from .conftest import require_dataset


def test_manifest_lists_every_converter_with_provenance():
    manifest = read_manifest()
    assert set(manifest) == set(CONVERTERS) == {"actg175", "actg320", "cpcra002"}
    for source in manifest.values():
        assert len(source.sha256) == 64
        assert source.citation and source.licence and source.version.count(".") >= 2


def test_checksum_mismatch_stops_with_a_clear_message(tmp_path):
    source = read_manifest()["actg175"]
    fake = tmp_path / "ACTG175.csv"
    fake.write_text("not the data\n")
    with pytest.raises(DataChecksumError, match=r"sha256 .* but data/manifest expects"):
        verify(source, fake)


def test_raw_files_match_manifest():
    for name, source in read_manifest().items():
        require_dataset(name)
        assert sha256_file(source.raw_path) == source.sha256


def test_actg175_counts_match_hammer_1996():
    cohort = load_cohort(require_dataset("actg175"))
    assert cohort.n_patients == 2139
    arms = cohort.study["ARM"].value_counts().to_dict()
    assert arms == {"ZDV": 532, "ZDV+ddI": 522, "ZDV+ddC": 524, "ddI": 561}
    assert cohort.ledger.entries.empty


def test_actg175_cd4_equals_the_raw_file():
    cohort = load_cohort(require_dataset("actg175"))
    raw = pd.read_csv(read_manifest()["actg175"].raw_path)
    cd4 = cohort.cd4.assign(PATIENT=cohort.cd4["PATIENT"].astype(str))
    day = (cd4["CD4_D"] - pd.Timestamp("1992-01-01")).dt.days
    for column, nominal_day in (("cd40", 0), ("cd420", 140), ("cd496", 672)):
        got = cd4[day == nominal_day].set_index("PATIENT")["CD4_V"].sort_index()
        want = raw.set_index(raw["pidnum"].astype(str))[column].dropna().sort_index()
        pd.testing.assert_series_equal(got, want, check_names=False, check_dtype=False)


def test_actg320_counts_match_hammer_1997():
    cohort = load_cohort(require_dataset("actg320"))
    assert cohort.n_patients == 1151
    pt = patient_table(cohort)
    assert int((pt["endpoint_y"] == 1).sum()) == 96
    assert int(pt["died"].sum()) == 26
    # each endpoint is either an AIDS-defining event in tblDIS or a death on that date
    aids = set(cohort.dis["PATIENT"].astype(str))
    endpoint = pt[pt["endpoint_y"] == 1]
    death_first = endpoint["died"] & (endpoint["endpoint_d"] == endpoint["death_date"])
    assert len(aids) + int(death_first.sum()) == 96
    assert pt["arm"].value_counts().to_dict() == {"2 NRTIs": 577, "2 NRTIs + IDV": 574}


def test_cpcra002_counts_match_abrams_1994():
    cohort = load_cohort(require_dataset("cpcra002"))
    assert cohort.n_patients == 467
    assert len(cohort.cd4) == 1405
    assert int(patient_table(cohort)["died"].sum()) == 188
    assert cohort.study["ARM"].value_counts().to_dict() == {"ddC": 237, "ddI": 230}


def test_source_file_is_immutable():
    source = read_manifest()["actg175"]
    require_dataset("actg175")
    assert not (source.raw_path.stat().st_mode & 0o222)


def test_manifest_rows_are_complete():
    for source in read_manifest().values():
        assert all(getattr(source, f.name) for f in dataclasses.fields(source))
