"""Reading a simulated cohort's truth: ``truth.csv`` (per-patient latent values) and
``truth.json`` (every parameter and the true effect sizes)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def load_truth(folder: str | Path) -> tuple[pd.DataFrame, dict]:
    """``truth.csv`` (indexed by PATIENT) and ``truth.json`` of a simulated cohort folder."""
    folder = Path(folder)
    truth = pd.read_csv(folder / "truth.csv").set_index("PATIENT")
    return truth, json.loads((folder / "truth.json").read_text())
