"""Shared fixtures: a small hand-made HICDEP cohort whose every number is known."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from immune_recovery import load_cohort
from immune_recovery.datasets import dataset_path


def write_csv_tables(folder: Path, tables: dict[str, str]) -> Path:
    """Write tables given as CSV text (dedented) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in tables.items():
        lines = [line.strip() for line in text.strip().splitlines()]
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


SMALL_COHORT = {
    "tblBAS": """
        PATIENT,BIRTH_D,SEX,MODE,AIDS_Y,AIDS_D,RECART_Y,RECART_D
        P1,1960-01-01,1,1,0,,1,2000-01-01
        P2,1970-06-15,2,6,1,1999-05-01,1,2000-03-01
        P3,1980-01-01,1,2,9,,1,
        P4,1975-01-01,9,99,0,,0,
    """,
    "tblART": """
        PATIENT,ART_ID,ART_SD,ART_ED
        P1,J05AF01,2000-01-01,
        P2,J05AF07,2000-03-01,2001-01-01
        P3,J05AG03,2001-02-01,
        P3,J05AF09,2001-02-10,
    """,
    "tblLAB_CD4": """
        PATIENT,CD4_D,CD4_V,CD4_U
        P1,1999-12-01,150,1
        P1,2000-01-05,180,1
        P1,2000-07-01,260,1
        P1,2000-07-01,20,2
        P2,1999-01-01,90,1
        P2,2000-02-20,120,1
        P2,2000-09-01,200,1
        P3,2001-01-20,300,1
        P3,2001-08-01,420,1
    """,
    "tblLAB_RNA": """
        PATIENT,RNA_D,RNA_V,RNA_L
        P1,1999-12-01,100000,50
        P1,2000-07-01,-50,50
        P2,2000-02-20,50000,50
        P2,2000-09-01,-1,
    """,
    "tblLTFU": """
        PATIENT,DROP_Y,DROP_D,DEATH_Y,DEATH_D,L_ALIVE_D
        P1,0,,0,,2002-01-01
        P2,0,,1,2001-06-01,
        P3,1,2002-02-01,0,,
    """,
}


@pytest.fixture
def small_cohort_dir(tmp_path: Path) -> Path:
    return write_csv_tables(tmp_path / "small", SMALL_COHORT)


@pytest.fixture
def edit_table():
    """Return a helper that rewrites one table of a cohort folder through pandas."""

    def edit(folder: Path, table: str, fn) -> None:
        path = folder / f"{table}.csv"
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        fn(df).to_csv(path, index=False)

    return edit


def require_dataset(name: str) -> Path:
    path = dataset_path(name)
    if not (path / ".stamp").is_file():
        pytest.fail(f"data set {name} is missing: run 'make data' first", pytrace=False)
    return path


@pytest.fixture(scope="session")
def cpcra002():
    """The converted CPCRA 002 cohort (``make data``)."""
    return load_cohort(require_dataset("cpcra002"))


@pytest.fixture(scope="session")
def actg175():
    """The converted ACTG 175 cohort (``make data``)."""
    return load_cohort(require_dataset("actg175"))


@pytest.fixture(scope="session")
def synthetic():
    """The simulated cohort (``make data``)."""
    return load_cohort(require_dataset("synthetic"))
