"""Analysis covariates derived from the patient table, and readable labels for model terms.

Derived columns (added by :func:`analysis_frame`): ``age10`` (age in decades), ``cd4_per50``
and ``cd4_per100`` (baseline CD4 in units of 50 and 100 cells/mm³), ``sqrt_cd4`` (square root
of baseline CD4), ``female``, ``years_since_diagnosis``, ``log10_rna`` (baseline). Binary flags
become 0/1 integers so that models report them as one term.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

LABELS = {
    "age10": "Age, per 10 years",
    "cd4_per50": "Baseline CD4, per 50 cells/mm³",
    "cd4_per100": "Baseline CD4, per 100 cells/mm³",
    "sqrt_cd4": "Baseline CD4, per sqrt(cells/mm³)",
    "baseline_cd4_band": "Baseline CD4 band (cells/mm³)",
    "log10_rna": "Baseline HIV RNA, per log10 copies/mL",
    "female": "Female sex",
    "prior_aids": "Prior AIDS / opportunistic infection",
    "hcv": "HCV co-infection",
    "years_since_diagnosis": "Years since HIV diagnosis",
    "zdv": "Zidovudine in the initial regimen",
    "ddi_tdf": "Didanosine + tenofovir in the initial regimen",
    "tmp_smx": "TMP/SMX prophylaxis at ART start",
    "arm": "Randomised arm",
    "status": "Response group",
    "current_sqrt_cd4": "Current CD4, per sqrt(cells/mm³)",
    "current_viremic": "Current HIV RNA above 400 copies/mL",
    "symptom": "Symptomatic HIV infection",
    "str2": "Antiretroviral-experienced",
    "karnof": "Karnofsky score",
    "azt": "Zidovudine history",
    "race": "Non-white race",
    "cd4_stratum": "CD4 stratum at entry",
}


def analysis_frame(patients: pd.DataFrame) -> pd.DataFrame:
    """The patient table with the derived covariates of this module's docstring."""
    out = patients.copy()
    out["age10"] = out["age"] / 10
    out["cd4_per50"] = out["baseline_cd4"] / 50
    out["cd4_per100"] = out["baseline_cd4"] / 100
    out["sqrt_cd4"] = np.sqrt(out["baseline_cd4"])
    out["female"] = (out["sex"] == "female").astype(int).where(out["sex"] != "unknown")
    out["log10_rna"] = out.get("baseline_log10_rna")
    for flag in ("prior_aids", "zdv", "ddi_tdf", "tdf", "tmp_smx", "hcv"):
        if flag in out:
            out[flag] = out[flag].astype("Float64").astype("Int64")
    return out


def available(frame: pd.DataFrame, covariates: list[str], min_levels: int = 2) -> list[str]:
    """Covariates present in ``frame`` with at least ``min_levels`` distinct values."""
    return [c for c in covariates
            if c in frame and frame[c].dropna().nunique() >= min_levels]


def design_matrix(data: pd.DataFrame, covariates: list[str],
                  references: dict[str, str] | None = None) -> pd.DataFrame:
    """The one categorical encoder of the package: numeric covariates as they are (float);
    categorical ones (non-numeric, categorical dtype, or named in ``references``) as 0/1
    indicator columns named ``var[level]`` against the reference level (default: the first
    level in sorted order). A missing value stays missing in every column of its covariate.
    The references used are in ``attrs["references"]`` (for :func:`term_label`)."""
    references = dict(references or {})
    columns = {}
    used = {}
    for name in covariates:
        col = data[name]
        if pd.api.types.is_numeric_dtype(col) and name not in references and \
                not isinstance(col.dtype, pd.CategoricalDtype):
            columns[name] = col.astype(float)
            continue
        values = col.astype(object).where(col.notna())
        levels = sorted(values.dropna().astype(str).unique(), key=str)
        ref = str(references.get(name, levels[0] if levels else ""))
        used[name] = ref
        for level in levels:
            if level != ref:
                columns[f"{name}[{level}]"] = (values.astype(str) == level).astype(float) \
                    .where(values.notna())
    # copy=False: the new columns as they are, not copied once more into one block
    design = pd.DataFrame(columns, index=data.index, copy=False)
    design.attrs["references"] = used
    return design


_LEVEL = re.compile(r"(?P<var>\w+)\[(?P<level>.+)\]")
_PATSY = re.compile(r"C\((?P<var>\w+)(?:,[^\[]*)?\)\[(?:T\.)?(?P<level>[^\]]+)\]")
_PATSY_REF = re.compile(r"C\((?P<var>\w+),\s*Treatment\((?:reference=)?['\"](?P<ref>[^'\"]+)")


def tidy_term(term: str) -> str:
    """A model term in the package's naming: patsy's ``C(var, Treatment('r'))[T.level]`` and
    ``var[T.level]`` become ``var[level]`` (also inside interactions:
    ``months:C(arm, Treatment('ddC'))[T.ddI]`` -> ``months:arm[ddI]``)."""
    return _PATSY.sub(lambda m: f"{m['var']}[{m['level']}]", term).replace("[T.", "[")


def term_label(term: str, references: dict[str, str] | None = None) -> str:
    """A model term as a reader would write it: ``Sex: female vs male``, ``Age, per 10 years``;
    interactions joined with `` × ``. The reference level comes from ``references`` (or from
    a patsy ``Treatment`` in the term)."""
    refs = dict(references or {})
    refs.update({m["var"]: m["ref"] for m in _PATSY_REF.finditer(term)})
    parts = []
    for part in tidy_term(term).split(":"):
        match = _LEVEL.fullmatch(part)
        if match:
            var, level = match["var"], match["level"]
            ref = refs.get(var)
            parts.append(f"{LABELS.get(var, var)}: {level}" + (f" vs {ref}" if ref else ""))
        else:
            parts.append(LABELS.get(part, part))
    return " × ".join(parts)
