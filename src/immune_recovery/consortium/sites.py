"""Sites of a consortium for tests, benchmarks and the demonstration report: one cohort split
by patient (every table of a patient goes to the same site), or heterogeneous cohorts each
simulated with its own design (:data:`DEMO_SITES`)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..reporting.stale import source_sha256
from ..simulate import SimulationParams, simulate_cohort
from ..staleness import is_current, key_of, record
from .bundle import build_bundle


def split_into_sites(tables: dict[str, pd.DataFrame], sizes: Sequence[int], seed: int
                     ) -> list[dict[str, pd.DataFrame]]:
    """The HICDEP ``tables`` of one cohort split into sites of ``sizes`` patients (drawn at
    random with ``seed``, without replacement; patients left over are in no site)."""
    patients = tables["tblBAS"]["PATIENT"].to_numpy()
    if sum(sizes) > len(patients):
        raise ValueError(f"{sum(sizes)} patients asked for, the cohort has {len(patients)}")
    order = np.random.default_rng(seed).permutation(patients)
    bounds = np.cumsum([0, *sizes])
    sites = []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        ids = set(order[start:stop])
        sites.append({name: frame[frame["PATIENT"].isin(ids)].reset_index(drop=True)
                      for name, frame in tables.items() if "PATIENT" in frame})
    return sites


def write_site(tables: dict[str, pd.DataFrame], folder: str | Path) -> Path:
    """Write one site's tables as a HICDEP folder (Parquet)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


@dataclass(frozen=True)
class SiteDesign:
    """One simulated site: its name, region, size and how its cohort differs from the
    simulator's defaults (:class:`~immune_recovery.simulate.SimulationParams` fields)."""

    name: str
    region: str
    patients: int
    changes: dict = field(default_factory=dict)


#: A demonstration consortium of six heterogeneous cohorts: sizes from 300 to 4,000 patients,
#: eras, baseline CD4, visit schedules and loss to follow-up that differ (our choices, within
#: the range of the collaborations named in the background).
DEMO_SITES = (
    SiteDesign("north-a", "Europe", 4000, {"start_year_min": 1998, "start_year_max": 2008}),
    SiteDesign("north-b", "Europe", 2500, {"start_year_min": 2006, "start_year_max": 2018,
                                           "sqrt_cd4_mean": 14.5}),
    SiteDesign("west-a", "North America", 3000, {"visit_interval_days": 121.75,
                                                 "ltfu_log_rate": -2.6}),
    SiteDesign("west-b", "North America", 1200, {"start_year_min": 2002,
                                                 "start_year_max": 2014}),
    SiteDesign("south-a", "Sub-Saharan Africa", 2000, {"sqrt_cd4_mean": 11.0,
                                                       "visit_interval_days": 182.6,
                                                       "ltfu_log_rate": -2.2,
                                                       "start_year_min": 2004}),
    SiteDesign("south-b", "Sub-Saharan Africa", 300, {"sqrt_cd4_mean": 11.5,
                                                      "visit_interval_days": 182.6,
                                                      "ltfu_log_rate": -2.4,
                                                      "start_year_min": 2006}),
)


def simulate_site(design: SiteDesign, seed: int, index: int) -> dict[str, pd.DataFrame]:
    """The HICDEP tables of one simulated site (its seed spawned from ``seed`` and its
    position ``index``; patient ids prefixed with the site's name, so that no two sites share
    one)."""
    own = int(np.random.SeedSequence(seed, spawn_key=(index,)).generate_state(1)[0])
    params = replace(SimulationParams(), **design.changes)
    tables = simulate_cohort(design.patients, own, params).tables
    return {name: frame.assign(PATIENT=design.name + "-" + frame["PATIENT"].astype(str))
            for name, frame in tables.items()}


def build_demo_bundles(out: str | Path, seed: int, close_date: str,
                       sites: Sequence[SiteDesign] = DEMO_SITES, if_stale: bool = False
                       ) -> list[Path]:
    """Simulate each site of ``sites``, bundle it as the site would (minimum cell
    :data:`~immune_recovery.disclosure.DEFAULT_MIN_CELL`) and write the bundles to ``out``
    (with ``settings.json``); with ``if_stale``, nothing is done when the package source, the
    seed, the close date and the designs are those the bundles were built from."""
    out = Path(out)
    paths = [out / f"{design.name}.zip" for design in sites]
    settings = {"seed": seed, "close_date": close_date,
                "sites": [asdict(design) for design in sites]}
    key = key_of({**settings, "source": source_sha256()})
    stamp = out / "settings.json"
    if if_stale and is_current(stamp, key, paths):
        return paths
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for index, design in enumerate(sites):
            folder = write_site(simulate_site(design, seed, index), Path(tmp) / design.name)
            build_bundle(folder, design.name, out / f"{design.name}.zip", design.region,
                         close_date=close_date)
    record(stamp, key, settings)
    return paths
