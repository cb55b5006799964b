"""Checks of the simulator: the package's own analyses run on simulated cohorts, against
published calibration targets (:mod:`.calibration`) and against the simulated truth
(:mod:`.check`).

This package consumes both the simulator and the analyses; the simulator itself
(:mod:`immune_recovery.simulate`) imports no analysis.
"""
