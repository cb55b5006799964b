"""Per-patient measurement series and the questions every analysis asks of them.

Measurements of one kind (absolute CD4 counts, viral loads) are held as one compressed series
per patient (CSR layout): sorted by patient, then by day *relative to the patient's time
origin*, with ``starts[p]:starts[p + 1]`` the rows of patient ``p``. The rows are sorted only
when the input is not already in (patient, date) order, as exports usually are.

Every question is answered for all patients at once, without a per-patient Python loop and
without binary searches into the whole table:

* :meth:`PatientSeries.counts_before` — how many of each patient's measurements fall before a
  day offset — for many offsets in one pass (``bincount`` of patient x offset bucket, then a
  cumulative sum);
* :meth:`PatientSeries.closest` — the measurement closest to ``origin + offset`` within
  ``[offset - before, offset + after]``, ties to the earlier date — from two of those counts;
* :meth:`PatientSeries.range_max` — the largest value in a per-patient row range
  (``numpy.maximum.reduceat``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .conventions import MISSING_DAY

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
    _counts: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    _patient: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def build(cls, patient_codes: np.ndarray, days: np.ndarray, origin: np.ndarray,
              n_patients: int) -> PatientSeries:
        """Series of measurements (patient code, day since 1970) relative to ``origin[p]``.

        Rows of patients without an origin (``origin`` missing, i.e. ``INT64_MIN``) and rows
        repeating a patient's day are dropped (validated HICDEP tables have none of the latter;
        the first in input order is kept).
        """
        patient_codes = np.asarray(patient_codes)
        origin = np.asarray(origin, dtype=np.int64)
        has_origin = origin != MISSING_DAY
        order = None
        if not has_origin.all():
            keep = has_origin[patient_codes]
            if not keep.all():
                order = np.flatnonzero(keep)
                patient_codes, days = patient_codes[order], np.asarray(days)[order]
        # days relative to the patient's origin fit in 32 bits (half the memory traffic)
        rel = (np.asarray(days, dtype=np.int64) - origin[patient_codes]).astype(np.int32)
        patient_codes = patient_codes.astype(np.int32, copy=False)
        if patient_codes.size > 1:
            step_patient = np.diff(patient_codes)
            in_order = bool(np.all(step_patient >= 0)) and bool(
                np.all(np.diff(rel)[step_patient == 0] > 0))
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
        counts = np.bincount(patient_codes, minlength=n_patients)
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(starts=starts, rel_day=rel, order=order, n_patients=n_patients)

    def __len__(self) -> int:
        return int(self.rel_day.size)

    def take(self, values: np.ndarray) -> np.ndarray:
        """Input-ordered values rearranged to the series' row order."""
        values = np.asarray(values)
        return values if self.order is None else values[self.order]

    @property
    def patient(self) -> np.ndarray:
        """Patient code of every row."""
        if self._patient is None:
            self._patient = np.repeat(np.arange(self.n_patients, dtype=np.int64),
                                      np.diff(self.starts))
        return self._patient

    def counts_before(self, offsets: list[int] | np.ndarray) -> dict[int, np.ndarray]:
        """Per patient, how many rows have ``rel_day < offset``, for every offset at once."""
        wanted = sorted({int(o) for o in offsets} - set(self._counts))
        if wanted:
            edges = np.asarray(wanted, dtype=np.int64)
            bucket = np.searchsorted(edges, self.rel_day, side="right")  # rows >= edge k-1
            k = edges.size + 1
            table = np.bincount(self.patient * k + bucket, minlength=self.n_patients * k)
            cumulative = np.cumsum(table.reshape(self.n_patients, k), axis=1)
            for j, offset in enumerate(wanted):
                self._counts[offset] = cumulative[:, j].astype(np.int64)
        return {int(o): self._counts[int(o)] for o in offsets}

    def first_at_or_after(self, offset: int) -> np.ndarray:
        """Row of each patient's first measurement with ``rel_day >= offset`` (may be a row of
        the next patient or ``len(self)``: check against ``starts[1:]``)."""
        return self.starts[:-1] + self.counts_before([offset])[offset]

    def closest(self, offset: int, before: int, after: int) -> np.ndarray:
        """Row of the measurement closest to ``offset`` within ``[offset - before, offset +
        after]`` (inclusive), ties to the earlier date; ``-1`` when there is none."""
        out = np.full(self.n_patients, -1, dtype=np.int64)
        n = len(self)
        if n == 0:
            return out
        start, stop = self.starts[:-1], self.starts[1:]
        upper = self.first_at_or_after(offset)
        lower = upper - 1
        up_dist = self.rel_day[np.minimum(upper, n - 1)].astype(np.int64) - offset
        up_ok = (upper < stop) & (up_dist <= after)
        low_dist = offset - self.rel_day[np.clip(lower, 0, n - 1)].astype(np.int64)
        low_ok = (lower >= start) & (low_dist <= before)
        take_low = low_ok & (~up_ok | (low_dist <= up_dist))
        take_up = up_ok & ~take_low
        out[take_low] = lower[take_low]
        out[take_up] = upper[take_up]
        return out

    def row_range(self, first_offset: int, last_offset: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``[lo, hi)`` of each patient dated ``first_offset <= rel_day <= last_offset``."""
        counts = self.counts_before([first_offset, last_offset + 1])
        lo = self.starts[:-1] + counts[first_offset]
        hi = self.starts[:-1] + counts[last_offset + 1]
        return lo, np.maximum(hi, lo)

    def take_padded(self, values: np.ndarray, empty: float = -np.inf) -> np.ndarray:
        """:meth:`take` into a float64 array with one trailing ``empty`` (as
        :meth:`padded` gives), without the intermediate copy."""
        values = np.asarray(values, dtype=np.float64)
        out = np.empty(len(self) + 1, dtype=np.float64)
        out[-1] = empty
        if self.order is None:
            out[:-1] = values
        else:
            np.take(values, self.order, out=out[:-1])
        return out

    @staticmethod
    def padded(values: np.ndarray, empty: float = -np.inf) -> np.ndarray:
        """``values`` (float64) with one trailing ``empty``, as :meth:`range_max` expects."""
        return np.append(np.asarray(values, dtype=np.float64), empty)

    @staticmethod
    def range_max(padded: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Largest of ``values[lo:hi]`` per patient, from :meth:`padded` values; the padding
        value where the range is empty."""
        n_values = padded.size - 1
        if lo.size == 0:
            return np.zeros(0)
        bounds = np.empty(2 * lo.size, dtype=np.int64)
        bounds[0::2], bounds[1::2] = lo, hi
        np.minimum(bounds, n_values, out=bounds)  # lo == n_values points at the padding
        out = np.maximum.reduceat(padded, bounds)[0::2]
        return np.where(hi > lo, out, padded[-1])
