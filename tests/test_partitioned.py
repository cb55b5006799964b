"""Partitioned (larger-than-memory) classification equals the in-memory run."""

from __future__ import annotations

import pandas as pd
import pytest

from immune_recovery.classify import classify
from immune_recovery.cli import main
from immune_recovery.cohort import load_cohort
from immune_recovery.definitions import load_catalogue
from immune_recovery.partitioned import classify_partitioned, patient_partitions


@pytest.fixture(scope="module")
def parquet_cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parquet") / "sim"
    assert main(["simulate", "--patients", "1500", "--seed", "3", "--out", str(folder),
                 "--format", "parquet"]) == 0
    # an orphan CD4 row (patient not in tblBAS) must be reported, not lost
    cd4 = pd.read_parquet(folder / "tblLAB_CD4.parquet")
    orphan = cd4.iloc[[0]].assign(PATIENT="NOT-IN-BAS")
    pd.concat([cd4, orphan], ignore_index=True).to_parquet(folder / "tblLAB_CD4.parquet",
                                                           index=False)
    return folder


def test_partitions_cover_every_patient_once(parquet_cohort):
    parts = patient_partitions(parquet_cohort, 4)
    ids = pd.Index([i for p in parts for i in p])
    assert len(parts) == 4 and ids.is_unique and len(ids) == 1500


def test_partitioned_equals_in_memory(parquet_cohort):
    definitions = list(load_catalogue().values())
    whole = load_cohort(parquet_cohort, close_date="2026-11-25")
    expected = classify(whole, definitions).long()
    result = classify_partitioned(parquet_cohort, definitions, n_partitions=4,
                                  close_date="2026-11-25")
    assert result.n_partitions == 4
    order = ["definition", "PATIENT"]
    got = result.long().sort_values(order, ignore_index=True)
    want = expected.assign(PATIENT=expected["PATIENT"].astype(str)) \
        .sort_values(order, ignore_index=True)
    got["PATIENT"] = got["PATIENT"].astype(str)
    pd.testing.assert_frame_equal(got, want, check_categorical=False)
    # the ledger adds up to the in-memory one, orphan included
    ledger = result.reconciliation.set_index("table")
    whole_ledger = whole.ledger.reconciliation().set_index("table")
    for column in ("rows_read", "rows_used", "rows_excluded"):
        assert ledger.loc["tblLAB_CD4", column] == whole_ledger.loc["tblLAB_CD4", column]
    assert ledger["reconciles"].all()
    assert ledger.loc["tblLAB_CD4", "rows_excluded"] >= 1


def test_cli_partitions_option(parquet_cohort, tmp_path, capsys):
    out = tmp_path / "classes.csv"
    assert main(["classify", str(parquet_cohort), "--definition", "grabar2000_gain_m6",
                 "--partitions", "3", "--out", str(out)]) == 0
    assert "3 partitions" in capsys.readouterr().out
    table = pd.read_csv(out)
    assert len(table) == 1500 and table["PATIENT"].is_unique
