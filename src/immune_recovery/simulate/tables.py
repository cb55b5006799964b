"""Turn one simulated chunk of patients into HICDEP tables (and its truth).

A chunk is first a set of numpy columns (:class:`Chunk`); it becomes pandas frames
(:meth:`Chunk.frames`, for analyses in memory) or Arrow tables (:meth:`Chunk.arrow`, for the
writers) without passing through the other: building frames and then converting them was a
third of a chunk's time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from ..conventions import DAYS_PER_YEAR
from .model import (
    AIDS_EVENT_CODES,
    ATC,
    BACKBONE_NAMES,
    BACKBONES,
    SECOND_LINE,
    SNAE_CODES,
    THIRD_AGENTS,
    THIRD_NAMES,
    TMP_SMX_ATC,
    Patients,
    admin_years,
    draw_latent,
    is_viremic,
    latent_sqrt_cd4,
    to_dates,
    truth_columns,
)
from .params import SimulationParams


def _visits(rng: np.random.Generator, pt: Patients, p: SimulationParams,
            end_years: np.ndarray, dropout_years: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Attended visits: (patient index, visit number, days since T0), sorted by patient/day.

    Visits in the ``pre_dropout_years`` before a loss to follow-up (``dropout_years``; inf for
    patients not lost) are missed more often."""
    n_visits = int(np.ceil(p.max_followup_years * DAYS_PER_YEAR / p.visit_interval_days)) + 1
    k = np.arange(n_visits)
    jitter_limit = p.visit_interval_days / 2 - 1  # keeps visits in date order
    jitter = np.clip(rng.normal(0, p.visit_jitter_sd_days, (pt.n, n_visits)), -jitter_limit,
                     jitter_limit)
    days = np.rint(k * p.visit_interval_days + jitter).astype(np.int64)
    days[:, 0] = -rng.integers(0, 31, pt.n)
    before_dropout = days / DAYS_PER_YEAR > (dropout_years - p.pre_dropout_years)[:, None]
    missed = np.where(before_dropout, p.missed_visit_prob_before_dropout, p.missed_visit_prob)
    attended = (rng.random((pt.n, n_visits)) >= missed) | (k == 0)
    attended &= days / DAYS_PER_YEAR < end_years[:, None]
    attended[:, 0] = True
    patient, visit = np.nonzero(attended)
    return patient, visit, days[patient, visit]


def _rna_values(rng: np.random.Generator, pt: Patients, p: SimulationParams,
                patient: np.ndarray, t: np.ndarray, calendar_year: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """RNA_V and RNA_L for samples at times t (years) of the given patients."""
    rna0 = pt.log10_rna0[patient]
    supp = pt.suppression[patient]
    decline_start = np.where(pt.primary_failure[patient], pt.resuppress[patient], 0.0)
    frac = np.clip((t - decline_start) / np.maximum(supp - decline_start, 1e-6), 0, 1)
    log10 = rna0 - (rna0 - 1.0) * frac
    primary_viremic = pt.primary_failure[patient] & (t < pt.resuppress[patient])
    log10 = np.where(primary_viremic, rng.normal(rna0 - 0.3, 0.4, t.size), log10)
    failing = (t >= pt.failure_start[patient]) & (t < pt.failure_end[patient])
    log10 = np.where(failing, rng.normal(p.failure_log10_rna_mean, p.failure_log10_rna_sd,
                                         t.size), log10)
    suppressed = (t >= supp) & ~failing
    blip = suppressed & (rng.random(t.size) < p.blip_prob)
    log10 = np.where(suppressed, np.where(blip, rng.uniform(1.78, 2.6, t.size), 0.0), log10)
    log10 = np.where(t <= 0, rna0 + rng.normal(0, 0.1, t.size), log10)
    value = 10 ** np.clip(log10, None, 6.9)  # HICDEP RW006: results above 10^7 are errors
    limit = np.where(calendar_year < 2001, p.assay_limit_before_2001, p.assay_limit_from_2001)
    below = value < limit
    unknown = below & (rng.random(t.size) < p.limit_unknown_prob)
    rna_v = np.where(below, np.where(unknown, -1.0, -limit), np.rint(value))
    rna_l = np.where(unknown, np.nan, limit)
    return rna_v, rna_l


NAT = np.datetime64("NaT", "ns")


def _where_dates(keep: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Dates (``datetime64[ns]``) where ``keep``, missing (NaT) elsewhere."""
    return np.where(keep, dates, NAT)


@dataclass
class ChunkTable:
    """One table of a chunk as numpy columns: ``patient`` indexes the chunk's patients (the
    ``PATIENT`` column, first); missing values are NaT, NaN or None."""

    patient: np.ndarray
    columns: dict[str, np.ndarray]

    @property
    def num_rows(self) -> int:
        return self.patient.size


@dataclass
class Chunk:
    """The HICDEP tables and the truth of one simulated chunk, as numpy columns."""

    ids: np.ndarray  #: PATIENT codes of the chunk's patients
    tables: dict[str, ChunkTable]
    truth: ChunkTable

    def frames(self) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
        """(HICDEP tables, truth) as pandas frames."""
        def frame(table: ChunkTable) -> pd.DataFrame:
            return pd.DataFrame({"PATIENT": self.ids[table.patient], **table.columns})
        return {name: frame(t) for name, t in self.tables.items()}, frame(self.truth)

    def arrow(self, dates_as_days: dict[str, bool]) -> dict[str, object]:
        """Each table (and ``"truth"``) as a ``pyarrow.Table``; dates become ``date32`` in the
        tables named True in ``dates_as_days`` (CSV writes them as YYYY-MM-DD) and stay
        ``timestamp[ns]`` otherwise (as pandas writes them to Parquet)."""
        ids = pa.array(self.ids)

        def table(name: str, t: ChunkTable) -> pa.Table:
            arrays = {"PATIENT": ids.take(pa.array(t.patient))}
            for column, values in t.columns.items():
                array = pa.array(values, from_pandas=True)
                if dates_as_days[name] and values.dtype.kind == "M":
                    array = array.cast(pa.date32())
                arrays[column] = array
            return pa.table(arrays)
        return {name: table(name, t) for name, t in {**self.tables, "truth": self.truth}.items()}


def _art_rows(pt: Patients, end_years: np.ndarray) -> ChunkTable:
    """tblART: the initial drugs from T0 (ended at a switch) and the second line after it,
    sorted by patient, line and ATC code."""
    switched = pt.switch < end_years
    switch_day = pt.start_day + np.rint(np.where(switched, pt.switch, 0) * DAYS_PER_YEAR)
    for_failure = switched & np.isfinite(pt.failure_end) & (np.abs(
        pt.switch - np.where(pt.primary_failure, pt.resuppress, pt.failure_end)) < 1e-9)
    reason = np.where(switched, np.where(for_failure, "1.1", "5"), None)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("i", "o", "atc", "sd", "ed", "rs")}

    def add(members: np.ndarray, line: int, drug: str, start: np.ndarray, stop: np.ndarray,
            rs: np.ndarray) -> None:
        parts["i"].append(members)
        parts["o"].append(np.full(members.size, line))
        parts["atc"].append(np.full(members.size, ATC[drug], dtype=object))
        parts["sd"].append(start)
        parts["ed"].append(stop)
        parts["rs"].append(rs)

    for b_index, name in enumerate(BACKBONE_NAMES):
        for t_index, third in enumerate(THIRD_NAMES):
            members = np.flatnonzero((pt.backbone == b_index) & (pt.third == t_index))
            if members.size == 0:
                continue
            ended = np.where(switched[members], switch_day[members], np.nan)
            for drug in BACKBONES[name] + THIRD_AGENTS[third]:
                add(members, 0, drug, pt.start_day[members].astype(float), ended,
                    reason[members])
            moved = members[switched[members]]
            for drug in SECOND_LINE["TDF" in BACKBONES[name]]:
                add(moved, 1, drug, switch_day[moved], np.full(moved.size, np.nan),
                    np.full(moved.size, None, dtype=object))
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    order = np.lexsort((cat["atc"].astype(str), cat["o"], cat["i"]))
    ed = cat["ed"][order]
    return ChunkTable(cat["i"][order], {
        "ART_ID": cat["atc"][order],
        "ART_SD": to_dates(cat["sd"][order].astype(np.int64)),
        "ART_ED": _where_dates(~np.isnan(ed), to_dates(np.nan_to_num(ed, nan=0)
                                                        .astype(np.int64))),
        "ART_RS": cat["rs"][order],
    })


def simulate_chunk(rng: np.random.Generator, n: int, first_number: int,
                   p: SimulationParams) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Simulate ``n`` patients numbered from ``first_number``: HICDEP tables and truth."""
    return simulate_chunk_columns(rng, n, first_number, p).frames()


def simulate_chunk_columns(rng: np.random.Generator, n: int, first_number: int,
                           p: SimulationParams) -> Chunk:
    """Simulate ``n`` patients numbered from ``first_number``, as numpy columns."""
    latent = draw_latent(rng, n, p)
    pt, events = latent.pt, latent.events
    del latent  # the grid's latent parts are not needed beyond the events
    ids = np.char.add("S", np.char.zfill(np.arange(first_number, first_number + n).astype(str), 7))
    everyone = np.arange(n)
    ade, death, ltfu = events.ade, events.death, events.ltfu
    end = np.minimum.reduce([np.full(n, p.max_followup_years), admin_years(pt, p), ltfu, death])
    dropped = (ltfu == end) & (ltfu < death)
    died = death == end

    patient, visit, days = _visits(rng, pt, p, end, np.where(dropped, ltfu, np.inf))
    last_visit = np.full(n, 0, dtype=np.int64)
    np.maximum.at(last_visit, patient, days)
    # after loss to follow-up nothing is observed beyond the last visit (DROP_D)
    observed = np.where(dropped, last_visit / DAYS_PER_YEAR, end)
    t = days / DAYS_PER_YEAR
    level = _latent_at(pt, patient, np.clip(t, 0, None), p)
    measured = p.cd4_error().measure(rng, level ** 2)
    sample_dates = to_dates(pt.start_day[patient] + days)
    cd4 = ChunkTable(patient, {"CD4_D": sample_dates, "CD4_V": np.rint(measured),
                               "CD4_U": np.ones(patient.size, dtype=np.int64)})

    has_rna = (visit == 0) | (rng.random(t.size) >= p.rna_missing_prob)
    year = sample_dates.astype("datetime64[Y]").astype(int) + 1970
    rna_v, rna_l = _rna_values(rng, pt, p, patient, t, year)
    rna = ChunkTable(patient[has_rna], {"RNA_D": sample_dates[has_rna], "RNA_V": rna_v[has_rna],
                                        "RNA_L": rna_l[has_rna]})

    ade_seen = ade < observed
    prior_aids_day = pt.start_day - np.rint(rng.uniform(0, 1, n) * pt.years_dx * DAYS_PER_YEAR)
    ade_day = pt.start_day + np.rint(np.where(ade_seen, ade, 0) * DAYS_PER_YEAR).astype(np.int64)
    aids_day = np.where(pt.prior_aids, prior_aids_day, ade_day)
    ones = np.ones(n, dtype=np.int64)
    bas = ChunkTable(everyone, {
        "BIRTH_D": to_dates(pt.start_day - np.rint(pt.age * DAYS_PER_YEAR).astype(np.int64)),
        "SEX": np.where(pt.female, 2, 1),
        "MODE": pt.mode,
        "HIV_POS_D": to_dates(pt.start_day - np.rint(pt.years_dx * DAYS_PER_YEAR)
                              .astype(np.int64)),
        "AIDS_Y": (pt.prior_aids | ade_seen).astype(int),
        "AIDS_D": _where_dates(pt.prior_aids | ade_seen, to_dates(aids_day.astype(np.int64))),
        "RECART_Y": ones,
        "RECART_D": to_dates(pt.start_day),
    })
    event_code = np.array(AIDS_EVENT_CODES, dtype=object)[
        rng.integers(0, len(AIDS_EVENT_CODES), n)]
    seen = np.flatnonzero(ade_seen)
    dis = ChunkTable(seen, {"DIS_ID": event_code[seen], "DIS_D": to_dates(ade_day[seen]),
                            "DIS_WD": ones[seen]})
    snae_seen = events.snae < observed
    snae_day = pt.start_day + np.rint(np.where(snae_seen, events.snae, 0)
                                      * DAYS_PER_YEAR).astype(np.int64)
    snae_code = np.array(SNAE_CODES, dtype=object)[rng.integers(0, len(SNAE_CODES), n)]
    seen = np.flatnonzero(snae_seen)
    cep = ChunkTable(seen, {"CEP_ID": snae_code[seen], "CEP_D": to_dates(snae_day[seen])})
    end_dates = to_dates(pt.start_day + np.rint(end * DAYS_PER_YEAR).astype(np.int64))
    ltfu_table = ChunkTable(everyone, {
        "DROP_Y": dropped.astype(int),
        "DROP_D": _where_dates(dropped, to_dates(pt.start_day + last_visit)),
        "DEATH_Y": died.astype(int),
        "DEATH_D": _where_dates(died, end_dates),
        "L_ALIVE_D": _where_dates(~died & ~dropped, end_dates),
    })
    on_tmp = np.flatnonzero(pt.tmp_stop > 0)
    tmp_end = pt.start_day + np.rint(np.where(np.isfinite(pt.tmp_stop), pt.tmp_stop, 0)
                                     * DAYS_PER_YEAR).astype(np.int64)
    tmp_ended = pt.tmp_stop < observed
    med = ChunkTable(on_tmp, {"MED_ID": np.full(on_tmp.size, TMP_SMX_ATC, dtype=object),
                              "MED_SD": to_dates(pt.start_day[on_tmp]),
                              "MED_ED": _where_dates(tmp_ended[on_tmp],
                                                     to_dates(tmp_end[on_tmp])),
                              "MEDSTART_RS": np.full(on_tmp.size, 2, dtype=np.int64)})
    study = ChunkTable(everyone, {"HCV": pt.hcv.astype(int)})
    tables = {
        "tblBAS": bas,
        "tblART": _art_rows(pt, observed),
        "tblMED": med,
        "tblLAB_CD4": cd4,
        "tblLAB_RNA": rna,
        "tblDIS": dis,
        "tblCEP": cep,
        "tblLTFU": ltfu_table,
        "tblSTUDY": study,
    }
    truth = truth_columns(pt, p, events, end)
    truth["dropped_out"] = dropped.astype(int)
    truth["viremic_at_end"] = is_viremic(pt, end[:, None])[:, 0].astype(int)
    return Chunk(ids=ids, tables=tables, truth=ChunkTable(everyone, truth))


def _latent_at(pt: Patients, patient: np.ndarray, t: np.ndarray,
               p: SimulationParams) -> np.ndarray:
    """L(t) for one time per row (``patient`` indexes the chunk's patients)."""
    sub = Patients(**{name: (value[patient] if isinstance(value, np.ndarray) else value)
                      for name, value in vars(pt).items() if name != "n"}, n=patient.size)
    return latent_sqrt_cd4(sub, t[:, None], p)[:, 0]
