"""The bottom-floor text helpers (:mod:`immune_recovery.formatting`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from immune_recovery.formatting import as_text


@pytest.mark.parametrize("values", [
    pd.Series(["a", None, np.nan, "b", "a"], dtype=object), pd.Series([1.0, np.nan, 2.5]),
    pd.Series([1, 2, 2]), pd.Series(pd.Categorical(["x", None, "y", "x"],
                                                   categories=["y", "x", "z"])),
    pd.Series([True, False]), pd.Series(pd.cut([1, 5, 250, np.nan], [0, 200, 350])),
    pd.Series([1, None, 3], dtype="Int64"), pd.Series(["a", pd.NA], dtype=object)])
def test_as_text_is_astype_str(values):
    assert list(as_text(values)) == list(values.astype(str))
