"""The malformed-input corpus (tests/data/bad/): every case ends as its expect.yaml says, and
rows read = rows used + rows excluded, always."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from immune_recovery import load_cohort
from immune_recovery.cli import main

CORPUS = Path(__file__).parent / "data" / "bad"
CASES = sorted(p for p in CORPUS.iterdir() if p.is_dir())


def test_the_corpus_has_at_least_thirty_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_case(case, capsys):
    expect = yaml.safe_load((case / "expect.yaml").read_text())
    status = main(["validate", str(case)])
    stderr = capsys.readouterr().err
    assert status == expect["exit_code"], stderr
    if expect["exit_code"] == 2:
        message = stderr.strip()
        assert "\n" not in message and "Traceback" not in message
        assert re.search(expect["message"], message), message
        return
    cohort = load_cohort(case)
    excluded = {(r.table, int(r.row), r.rule) for r in cohort.ledger.entries.itertuples()}
    assert excluded == {(e["table"], e["row"], e["rule"]) for e in expect["excluded"]}
    flagged = {(r.table, r.rule) for r in cohort.ledger.flags.itertuples()}
    assert {(f["table"], f["rule"]) for f in expect["flagged"]} <= flagged
    assert cohort.ledger.reconciliation()["reconciles"].all()
