"""The data-quality page: every check listed, counts equal to the ledger, the messy example."""

from __future__ import annotations

from immune_recovery import load_cohort
from immune_recovery.quality import check_table
from immune_recovery.schemas import RULE_TABLE
from immune_recovery.simulate.messy import make_messy_example


def test_every_rule_is_listed_with_the_ledger_counts(tmp_path):
    cohort = load_cohort(make_messy_example(tmp_path / "messy", n_patients=120, seed=9),
                         close_date="2026-11-25")
    table = check_table(cohort.ledger).set_index("rule")
    assert set(table.index) == set(RULE_TABLE)
    excluded = cohort.ledger.entries.groupby("rule").size()
    for rule, n in excluded.items():
        assert table.loc[rule, "rows"] == n
    for rule in ("CW001", "CW002", "CW007", "RC001", "RW001", "RW006", "IR-ART-2", "ATC004",
                 "ATC003", "IR-DATE-1", "IR-BAS-3", "RW007", "CW008"):
        assert table.loc[rule, "rows"] > 0, rule
        assert "row" in table.loc[rule, "examples"]
    assert cohort.ledger.reconciliation()["reconciles"].all()
