"""Agreement between definitions (:func:`immune_recovery.frequency.agreement`): every pair's
kappa and overlap, against the pair-by-pair count the definition states."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from immune_recovery import disclosure, frequency, load_cohort
from immune_recovery.classify import classify, nonresponder_flags
from immune_recovery.definitions import select_definitions
from immune_recovery.intervals import cohen_kappa

from .conftest import require_dataset


def _pairwise(result, ids, min_common=20):
    kappa = pd.DataFrame(np.nan, index=ids, columns=ids)
    overlap = pd.DataFrame(np.nan, index=ids, columns=ids)
    for a in ids:
        den_a, num_a = nonresponder_flags(result, a)
        for b in ids:
            den_b, num_b = nonresponder_flags(result, b)
            common = den_a & den_b
            if common.sum() < min_common:
                continue
            x, y = num_a[common], num_b[common]
            both, only_x, only_y = np.sum(x & y), np.sum(x & ~y), np.sum(~x & y)
            kappa.loc[a, b] = cohen_kappa(both, only_x, only_y,
                                          int(common.sum()) - both - only_x - only_y)
            if x.sum() and not (disclosure.small(both) or disclosure.small(only_x)):
                overlap.loc[a, b] = both / x.sum()
    return kappa, overlap


@pytest.mark.parametrize("min_cell", [0, 10])
def test_agreement_is_the_pair_by_pair_count(min_cell):
    result = classify(load_cohort(require_dataset("cpcra002")), select_definitions(True, None))
    ids = list(result.results)
    disclosure.set_min_cell(min_cell)
    try:
        for got, expected in zip(frequency.agreement(result), _pairwise(result, ids),
                                 strict=True):
            pd.testing.assert_frame_equal(got, expected, check_exact=True)
            assert got.notna().to_numpy().any() and got.isna().to_numpy().any()
    finally:
        disclosure.set_min_cell(0)
