"""Picking one measurement per target date, for a whole cohort at once.

The rule used throughout the package (baseline CD4, CD4 at an assessment, viral load at an
assessment): among a patient's measurements dated in ``[target - before, target + after]``,
take the one closest to the target; on a tie, the earlier one.

Implementation: measurements are keyed by one 64-bit integer ``patient * 2**32 + day`` and
sorted once (skipped when the input is already in order, as exports usually are). Each target
then costs two binary searches (:func:`numpy.searchsorted`): the last measurement on or before
the target and the first on or after it. No per-patient Python loop, no join.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_DAY_OFFSET = np.int64(2**31)
_PATIENT_SHIFT = np.int64(2**32)
EPOCH = np.datetime64("1970-01-01", "D")


def to_days(dates: pd.Series | np.ndarray) -> np.ndarray:
    """Dates as integer days since 1970-01-01 (``int64``); missing dates become ``INT64_MIN``."""
    return np.asarray(dates, dtype="datetime64[D]").astype(np.int64)


def from_days(days: np.ndarray) -> np.ndarray:
    """Integer days since 1970-01-01 back to ``datetime64[ns]``."""
    return (EPOCH + np.asarray(days, dtype="timedelta64[D]")).astype("datetime64[ns]")


def make_keys(patient_codes: np.ndarray, days: np.ndarray) -> np.ndarray:
    """One sortable 64-bit key per (patient, day)."""
    return patient_codes.astype(np.int64) * _PATIENT_SHIFT + (days.astype(np.int64) + _DAY_OFFSET)


@dataclass(frozen=True)
class MeasurementIndex:
    """Measurements of one kind (e.g. absolute CD4 counts) sorted by patient and day.

    Build it once with :meth:`build` and query it for many target dates.
    """

    keys: np.ndarray  #: sorted keys
    order: np.ndarray  #: position in the input of each sorted key
    patient: np.ndarray  #: patient code of each sorted key
    day: np.ndarray  #: day of each sorted key

    @classmethod
    def build(cls, patient_codes: np.ndarray, days: np.ndarray) -> MeasurementIndex:
        patient_codes = np.asarray(patient_codes, dtype=np.int64)
        days = np.asarray(days, dtype=np.int64)
        keys = make_keys(patient_codes, days)
        if keys.size and np.all(keys[1:] >= keys[:-1]):
            order = np.arange(keys.size, dtype=np.int64)
        else:
            order = np.argsort(keys, kind="stable")
            keys = keys[order]
        return cls(keys=keys, order=order, patient=patient_codes[order], day=days[order])

    def __len__(self) -> int:
        return int(self.keys.size)

    def closest(
        self,
        target_patient: np.ndarray,
        target_day: np.ndarray,
        before: int | np.ndarray,
        after: int | np.ndarray,
    ) -> np.ndarray:
        """Input position of the measurement closest to each target, or ``-1`` if none.

        Parameters
        ----------
        target_patient, target_day : array of int
            Patient code and target day (days since 1970-01-01) of each target.
        before, after : int or array of int
            Window half-widths in days: measurements dated ``target - before`` through
            ``target + after`` (both inclusive) qualify.
        """
        target_patient = np.asarray(target_patient, dtype=np.int64)
        target_day = np.asarray(target_day, dtype=np.int64)
        n = self.keys.size
        result = np.full(target_day.shape, -1, dtype=np.int64)
        if n == 0 or target_day.size == 0:
            return result
        tkey = make_keys(target_patient, target_day)
        left = np.searchsorted(self.keys, tkey, side="right") - 1
        right = np.searchsorted(self.keys, tkey, side="left")
        left_ok = left >= 0
        left_c = np.where(left_ok, left, 0)
        # on equal keys (two results the same day) take the first in input order
        left_c = np.searchsorted(self.keys, self.keys[left_c], side="left")
        left_ok &= self.patient[left_c] == target_patient
        dist_left = target_day - self.day[left_c]
        left_ok &= dist_left <= before
        right_ok = right < n
        right_c = np.where(right_ok, right, 0)
        right_ok &= self.patient[right_c] == target_patient
        dist_right = self.day[right_c] - target_day
        right_ok &= dist_right <= after
        take_left = left_ok & (~right_ok | (dist_left <= dist_right))
        take_right = right_ok & ~take_left
        result[take_left] = self.order[left_c[take_left]]
        result[take_right] = self.order[right_c[take_right]]
        return result


def pick_closest(
    patient_codes: np.ndarray,
    days: np.ndarray,
    target_patient: np.ndarray,
    target_day: np.ndarray,
    before: int | np.ndarray,
    after: int | np.ndarray,
) -> np.ndarray:
    """One-shot :meth:`MeasurementIndex.closest` (builds the index, then queries it)."""
    return MeasurementIndex.build(patient_codes, days).closest(
        target_patient, target_day, before, after
    )
