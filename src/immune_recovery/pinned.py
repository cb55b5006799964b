"""The pinned estimands' choices, shared by the coverage study (:mod:`immune_recovery.simcheck`)
and the consortium's site analyses (:mod:`immune_recovery.consortium`): which catalogue
definitions and which late-response threshold and month every site and every replicate
estimates, so that their estimates are the same quantity.

The definitions are catalogue ids (``data/definitions/catalogue.yaml``); the late-response
threshold and month are the trajectories report's middle choices.
"""

from __future__ import annotations

#: Definitions whose frequency is estimated (catalogue ids).
FREQUENCY_DEFINITIONS = ("seed_gain_le100_m6_12", "seed_level_le200_m6_12",
                         "seed_level_le300_m6_12")
#: Level-based definition of the risk-factor ORs, of IPCW and of early non-response.
LEVEL_DEFINITION = "seed_level_le200_m6_12"
#: Definition of the response groups of the landmark hazard ratio.
LANDMARK_DEFINITION = "grabar2000_gain_m6"
#: Late response: threshold (cells/mm³) and month.
LATE_THRESHOLD = 200.0
LATE_MONTH = 36
