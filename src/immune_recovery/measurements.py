"""Per-patient measurement series and the questions every analysis asks of them.

Measurements of one kind (absolute CD4 counts, viral loads) are held as one compressed series
per patient (CSR layout): sorted by patient, then by day *relative to the patient's time
origin*, with ``starts[p]:starts[p + 1]`` the rows of patient ``p``. The rows are sorted only
when the input is not already in (patient, date) order, as exports usually are.

Every question is answered for all patients at once by a compiled loop over patients
(numba, ``cache=True``: compiled on first use, then loaded from ``__pycache__``), each looking
only at its own rows: no per-patient Python loop and no per-row patient array. The loops
release the GIL, so independent questions can be asked from several threads at once.

* :meth:`PatientSeries.build` — days relative to the origin and the order check in one pass
  over the rows;
* :meth:`PatientSeries.counts_before` — how many of each patient's measurements fall before a
  day offset (a binary search in the patient's own rows);
* :meth:`PatientSeries.closest` — the measurement closest to ``origin + offset`` within
  ``[offset - before, offset + after]``, ties to the earlier date (:meth:`~PatientSeries.pick`
  also reads its value);
* :meth:`PatientSeries.range_max` — the largest value in a per-patient row range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from .conventions import MISSING_DAY, NS_PER_DAY

#: Divisor from a datetime64 unit's integer value to days.
_DAY_DIVISORS = {"D": 1, "s": 86_400, "ms": 86_400_000, "us": 86_400_000_000,
                 "ns": NS_PER_DAY}
_JIT = {"cache": True, "nogil": True}


@numba.njit(**_JIT)
def _relative_days(codes, raw, divisor, origin, rel):  # pragma: no cover - compiled
    """``rel[i] = floor(raw[i] / divisor) - origin[codes[i]]``; True when the rows are in
    (patient, day) order with no day repeated within a patient."""
    in_order = True
    previous_code, previous_day = -1, 0
    for i in range(raw.size):
        code = codes[i]
        day = raw[i] // divisor - origin[code]  # floor division, as datetime64[D] casts
        rel[i] = day
        if code < previous_code or (code == previous_code and day <= previous_day):
            in_order = False
        previous_code, previous_day = code, day
    return in_order


@numba.njit(**_JIT)
def _starts(sorted_codes, n_patients):  # pragma: no cover - compiled
    """CSR row offsets of codes sorted ascending."""
    starts = np.empty(n_patients + 1, np.int64)
    p = 0
    for i in range(sorted_codes.size):
        code = sorted_codes[i]
        while p <= code:
            starts[p] = i
            p += 1
    while p <= n_patients:
        starts[p] = sorted_codes.size
        p += 1
    return starts


@numba.njit(**_JIT)
def first_row_at_or_after(rel, lo, hi, offset):  # pragma: no cover - compiled
    """First row in ``[lo, hi)`` with ``rel >= offset`` (``hi`` when none): the binary search
    of one patient's rows, callable from other compiled loops."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if rel[mid] < offset:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(**_JIT)
def _counts_before(starts, rel, offset):  # pragma: no cover - compiled
    n = starts.size - 1
    out = np.empty(n, np.int64)
    for p in range(n):
        out[p] = first_row_at_or_after(rel, starts[p], starts[p + 1], offset) - starts[p]
    return out


@numba.njit(**_JIT)
def _closest(starts, rel, offset, before, after):  # pragma: no cover - compiled
    n = starts.size - 1
    out = np.full(n, -1, np.int64)
    for p in range(n):
        start, stop = starts[p], starts[p + 1]
        upper = first_row_at_or_after(rel, start, stop, offset)
        lower = upper - 1
        up_ok = upper < stop and rel[upper] - offset <= after
        low_ok = lower >= start and offset - rel[lower] <= before
        if low_ok and (not up_ok or offset - rel[lower] <= rel[upper] - offset):
            out[p] = lower
        elif up_ok:
            out[p] = upper
    return out


@numba.njit(**_JIT)
def _pick(starts, rel, values, offset, before, after):  # pragma: no cover - compiled
    """(row, value) of each patient's closest measurement (see :meth:`PatientSeries.closest`);
    -1 and NaN where there is none."""
    row = _closest(starts, rel, offset, before, after)
    value = np.full(row.size, np.nan)
    for p in range(row.size):
        if row[p] >= 0:
            value[p] = values[row[p]]
    return row, value


@numba.njit(**_JIT)
def _range_max(values, lo, hi, empty):  # pragma: no cover - compiled
    out = np.empty(lo.size, np.float64)
    for p in range(lo.size):
        best = empty if hi[p] <= lo[p] else -np.inf
        for i in range(lo[p], hi[p]):
            v = values[i]
            if np.isnan(v):
                best = v
                break
            best = max(best, v)
        out[p] = best
    return out


def _day_divisor(days: np.ndarray) -> tuple[np.ndarray, int]:
    """(int64 view, divisor to days) of dates (``datetime64``) or integer days."""
    if days.dtype.kind == "M":
        unit = np.datetime_data(days.dtype)[0]
        if unit not in _DAY_DIVISORS:
            days, unit = days.astype("datetime64[s]"), "s"
        return days.view(np.int64), _DAY_DIVISORS[unit]
    return days.astype(np.int64, copy=False), 1


@dataclass
class PatientSeries:
    """Measurements grouped by patient, days relative to each patient's origin.

    Attributes
    ----------
    starts : int64 array, length ``n_patients + 1``
        Rows of patient ``p`` are ``starts[p]:starts[p + 1]``.
    rel_day : int32 array
        Day of each row minus the patient's origin day (days), ascending within a patient.
    order : int64 array or None
        Input position of each row (None when the input was already in order).
    """

    starts: np.ndarray
    rel_day: np.ndarray
    order: np.ndarray | None
    n_patients: int

    @classmethod
    def build(cls, patient_codes: np.ndarray, days: np.ndarray, origin: np.ndarray,
              n_patients: int) -> PatientSeries:
        """Series of measurements (patient code; date, or day since 1970) relative to
        ``origin[p]`` (day since 1970).

        Rows of patients without an origin (``origin`` missing, i.e. ``INT64_MIN``) and rows
        repeating a patient's day are dropped (validated HICDEP tables have none of the latter;
        the first in input order is kept).
        """
        patient_codes, days = np.asarray(patient_codes), np.asarray(days)
        origin = np.asarray(origin, dtype=np.int64)
        order = None
        if not (origin != MISSING_DAY).all():
            keep = (origin != MISSING_DAY)[patient_codes]
            if not keep.all():
                order = np.flatnonzero(keep)
                patient_codes, days = patient_codes[order], days[order]
        raw, divisor = _day_divisor(days)
        # days relative to the patient's origin fit in 32 bits (half the memory traffic)
        rel = np.empty(raw.size, dtype=np.int32)
        in_order = _relative_days(patient_codes, raw, divisor, origin, rel)
        del raw
        if not in_order:
            # timsort (kind="stable") is adaptive: near-sorted exports sort in linear time
            key = (patient_codes.astype(np.int64) << 32) | (rel.astype(np.int64) + 2**31)
            perm = np.argsort(key, kind="stable")
            del key
            order = perm if order is None else order[perm]
            patient_codes, rel = patient_codes[perm], rel[perm]
            repeat = np.concatenate([[False], (np.diff(patient_codes) == 0)
                                     & (np.diff(rel) == 0)])
            if repeat.any():
                order, patient_codes, rel = order[~repeat], patient_codes[~repeat], rel[~repeat]
        starts = _starts(patient_codes, n_patients)
        return cls(starts=starts, rel_day=rel, order=order, n_patients=n_patients)

    def __len__(self) -> int:
        return int(self.rel_day.size)

    def take(self, values: np.ndarray) -> np.ndarray:
        """Input-ordered values rearranged to the series' row order (the same array, no copy,
        when the input was in order)."""
        values = np.asarray(values)
        return values if self.order is None else values[self.order]

    @property
    def patient(self) -> np.ndarray:
        """Patient code of every row (built on each call: as long as the table)."""
        return np.repeat(np.arange(self.n_patients, dtype=np.int64), np.diff(self.starts))

    def counts_before(self, offsets: list[int] | np.ndarray) -> dict[int, np.ndarray]:
        """Per patient, how many rows have ``rel_day < offset``, for each offset."""
        return {int(o): _counts_before(self.starts, self.rel_day, int(o)) for o in offsets}

    def first_at_or_after(self, offset: int) -> np.ndarray:
        """Row of each patient's first measurement with ``rel_day >= offset`` (may be a row of
        the next patient or ``len(self)``: check against ``starts[1:]``)."""
        return self.starts[:-1] + _counts_before(self.starts, self.rel_day, int(offset))

    def closest(self, offset: int, before: int, after: int) -> np.ndarray:
        """Row of the measurement closest to ``offset`` within ``[offset - before, offset +
        after]`` (inclusive), ties to the earlier date; ``-1`` when there is none."""
        return _closest(self.starts, self.rel_day, int(offset), int(before), int(after))

    def pick(self, values: np.ndarray, offset: int, before: int, after: int
             ) -> tuple[np.ndarray, np.ndarray]:
        """(row, value) per patient of the measurement :meth:`closest` finds; -1 and NaN
        where there is none. ``values`` (float64) are in series order."""
        return _pick(self.starts, self.rel_day, np.asarray(values, dtype=np.float64),
                     int(offset), int(before), int(after))

    def row_range(self, first_offset: int, last_offset: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``[lo, hi)`` of each patient dated ``first_offset <= rel_day <= last_offset``."""
        lo = self.first_at_or_after(first_offset)
        hi = self.first_at_or_after(last_offset + 1)
        return lo, np.maximum(hi, lo)

    @staticmethod
    def range_max(values: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                  empty: float = -np.inf) -> np.ndarray:
        """Largest of ``values[lo:hi]`` per patient (float64; NaN if one is NaN), ``empty``
        where the range is empty."""
        return _range_max(np.asarray(values, dtype=np.float64),
                          np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64),
                          float(empty))
