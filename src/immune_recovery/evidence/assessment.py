"""The whole assessment: every claim's evaluator run on its declared sources. It computes the
verdicts, the evidence rows and the syntheses; it formats nothing (see :mod:`.presentation`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..exceptions import EvidenceError
from . import evaluators, factors, therapy  # noqa: F401 (importing them registers the evaluators)
from .decision import EVIDENCE_COLUMNS, ClaimResult
from .registry import EVALUATORS
from .sources import ClaimSources, TableStore, check_sources, parse_sources

#: Columns of the verdicts table: one row per claim.
VERDICT_COLUMNS = ["claim_id", "claim", "verdict", "certainty", "estimand", "measure",
                   "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "k", "studies", "i2",
                   "tau2", "model", "threshold", "rule", "downgrades", "reason", "sources"]


@dataclass
class Assessment:
    """Verdicts (one row per claim), evidence (one row per number, ``display`` left empty) and
    the syntheses the evaluators pooled, by name (the report draws its forest plots and flows
    from these, the very fits the verdicts used)."""

    verdicts: pd.DataFrame
    evidence: pd.DataFrame
    syntheses: dict[str, object] = field(default_factory=dict)

    def certainty_table(self) -> pd.DataFrame:
        """One row per claim with a verdict: certainty and each downgrade with its reason."""
        return self.verdicts.loc[self.verdicts["verdict"] != "insufficient evidence",
                                 ["claim_id", "verdict", "certainty", "k", "downgrades"]]


def _verdict_row(claim, result: ClaimResult) -> dict:
    d = result.decision
    decided = {} if d is None else {
        "measure": d.measure, "estimate": d.estimate, "ci_low": d.ci_low, "ci_high": d.ci_high,
        "pi_low": d.pi_low, "pi_high": d.pi_high, "k": d.k, "studies": d.studies,
        "i2": d.i2, "tau2": d.tau2, "model": d.model, "threshold": d.threshold,
        "rule": d.rule}
    return {"claim_id": claim.claim_id, "claim": claim.claim, "verdict": result.verdict,
            "certainty": result.certainty, "estimand": claim.evidence_kind, "measure": "",
            "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "pi_low": np.nan,
            "pi_high": np.nan, "k": 0, "studies": 0, "i2": np.nan, "tau2": np.nan, "model": "",
            "threshold": "", "rule": "", **decided,
            "downgrades": "; ".join(result.downgrades) or ("none" if result.certainty else ""),
            "reason": result.reason.rstrip(".") + ".", "sources": claim.sources}


def assess_claims(claims: pd.DataFrame, store: TableStore) -> Assessment:
    """Run every claim's evaluator. A claim whose sources do not resolve, or whose id has no
    evaluator, is an error naming it."""
    problems = check_sources(claims, store).query("not ok")
    if len(problems):
        raise EvidenceError("claims.csv cites missing evidence: " + "; ".join(
            f"claim {r.claim_id}: {r.problem}" for r in problems.itertuples(index=False)))
    verdicts, evidence, syntheses = [], [], {}
    for claim in claims.itertuples(index=False):
        evaluator = EVALUATORS.get(claim.claim_id)
        if evaluator is None:
            raise EvidenceError(f"claims.csv: claim {claim.claim_id!r} has no evidence function "
                                f"(known: {', '.join(EVALUATORS)})")
        refs = parse_sources(claim.sources, claim.claim_id)
        result = evaluator(ClaimSources(claim.claim_id, refs, store))
        if result.verdict == "insufficient evidence" and claim.data_needed:
            result.reason += f". Data that would decide it: {claim.data_needed}"
        evidence += [dict(e, claim_id=claim.claim_id, display="") for e in result.evidence]
        verdicts.append(_verdict_row(claim, result))
        syntheses.update(result.syntheses)
    return Assessment(pd.DataFrame(verdicts, columns=VERDICT_COLUMNS),
                      pd.DataFrame(evidence, columns=EVIDENCE_COLUMNS), syntheses)
