"""immune-recovery: immunologic non-response to antiretroviral therapy, reproducibly.

The public API, re-exported here for notebooks and users; everything else is internal.
"""

from .baseline import baseline_cd4, baseline_rna, patient_table
from .cohort import Cohort, load_cohort
from .exceptions import (
    ConvergenceWarning,
    DataChecksumError,
    DefinitionError,
    ImmuneRecoveryError,
    InputError,
)

__version__ = "0.1.0"

__all__ = [
    "Cohort",
    "load_cohort",
    "patient_table",
    "baseline_cd4",
    "baseline_rna",
    "ConvergenceWarning",
    "DataChecksumError",
    "DefinitionError",
    "ImmuneRecoveryError",
    "InputError",
]
