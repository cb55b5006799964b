"""What one claim's evaluation yields: its evidence rows, the typed decision behind the verdict,
the verdict with its reason and certainty, and the syntheses it pooled (which the report's
figures and flows draw from)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: The roles of an evidence row: ``pooled`` decides; ``study`` is a study behind it, or one of
#: its other estimates; ``indirect`` are our analyses of the 1990s trials and trials that did
#: not enrol non-responders; ``simulated`` the simulated cohort (never decides).
ROLES = ("pooled", "study", "indirect", "simulated")
VERDICTS = ("supported", "contradicted", "uncertain", "insufficient evidence")
#: Columns of the evidence rows (``display`` is added by the presentation).
EVIDENCE_COLUMNS = ["claim_id", "role", "data", "quantity", "estimate", "ci_low", "ci_high", "n",
                    "scale", "display", "weight", "source", "note"]


@dataclass(frozen=True)
class Decision:
    """The estimate a verdict rests on: a pooled estimate (``kind = "pooled"``) or a synthesis
    by direction of effect, its 95% CI (and prediction interval, I^2 and tau^2 where pooled),
    ``k`` the study groups (studies sharing patients count once) and ``studies`` the studies
    behind them, the decision threshold in words, the selection or decision rule and the
    ``model`` that gave the interval."""

    kind: str
    measure: str
    estimate: float
    ci_low: float
    ci_high: float
    k: int
    threshold: str
    rule: str
    model: str = ""
    studies: int = 0
    pi_low: float = np.nan
    pi_high: float = np.nan
    i2: float = np.nan
    tau2: float = np.nan


@dataclass
class ClaimResult:
    """Evidence rows, the verdict with its reason, its certainty and the decision for one claim;
    ``syntheses`` the pooled or direction-of-effect questions it used, by name."""

    evidence: list[dict] = field(default_factory=list)
    verdict: str = "insufficient evidence"
    reason: str = ""
    certainty: str = ""
    downgrades: list[str] = field(default_factory=list)
    decision: Decision | None = None
    syntheses: dict[str, object] = field(default_factory=dict)

    def add(self, *, role: str, data: str, quantity: str, source: str, estimate: float = np.nan,
            ci_low: float = np.nan, ci_high: float = np.nan, n: float = np.nan,
            scale: str = "ratio", weight: float = np.nan, note: str = "") -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        self.evidence.append({"role": role, "data": data, "quantity": quantity,
                              "estimate": estimate, "ci_low": ci_low, "ci_high": ci_high,
                              "n": n, "scale": scale, "weight": weight, "source": source,
                              "note": note})

    def rows(self, role: str) -> list[dict]:
        return [e for e in self.evidence if e["role"] == role]
