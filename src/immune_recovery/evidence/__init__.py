"""The background's claims, judged on pooled estimates of the published suppressed cohorts,
with their certainty.

One concept per module, read in this order:

* :mod:`.sources` — claims and their declared sources (``data/reference/claims.csv``);
* :mod:`.questions` — the pooled questions on the published cohorts (one estimate per study,
  random effects), the direction-of-effect syntheses and their flows;
* :mod:`.il2` — the IL-2 questions (the randomized trials);
* :mod:`.decision` — what an evaluation yields: evidence rows and a typed decision;
* :mod:`.rules` — verdict and certainty rules, each threshold named with its source;
* :mod:`.registry`, :mod:`.evaluators` and :mod:`.therapy` — one evaluator per claim,
  registered by id (the cohort claims, the therapy claims);
* :mod:`.assessment` — every claim assessed (computes, never formats);
* :mod:`.presentation` and :mod:`.figures` — text, Markdown and figures.
"""

from __future__ import annotations

from ..reference import load_claims  # noqa: F401 (the report's names, in one place)
from .assessment import VERDICT_COLUMNS, Assessment, assess_claims  # noqa: F401
from .decision import EVIDENCE_COLUMNS, ROLES, VERDICTS, ClaimResult, Decision  # noqa: F401
from .questions import CLAIM_FREQUENCY_RANGE, flows  # noqa: F401
from .registry import EVALUATORS, evaluates  # noqa: F401
from .rules import CERTAINTY, MIN_STALLED_SHARE, RTM_CV, certainty, judge  # noqa: F401
from .sources import (  # noqa: F401
    ClaimSources,
    SourceRef,
    TableStore,
    check_sources,
    parse_sources,
)
