"""The reports' one glossary (``resources/glossary.yaml``): the caption of each table a report
writes (by its file name), the header of each column name with its unit, and the terms
captions spell out."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import yaml


@cache
def glossary() -> dict:
    """The glossary: ``{"terms": {...}, "columns": {...}, "tables": {...}}``."""
    text = resources.files("immune_recovery.resources").joinpath("glossary.yaml") \
        .read_text(encoding="utf-8")
    return yaml.safe_load(text)


def column_header(name: str) -> str:
    """The header a table shows for column ``name``: the glossary's (with its unit, e.g.
    ``median_followup_months`` → "Median follow-up (months)"), keeping a suffix such as
    " (95% CI)"; a column the glossary lacks keeps its name."""
    base, _, suffix = name.partition(" (")
    header = glossary()["columns"].get(base)
    if header is None:
        return name
    return f"{header} ({suffix}" if suffix else header


def table_caption(name: str) -> str:
    """The caption of the table written as ``tables/<name>.csv``; a name the glossary lacks
    is spelled out word by word with its terms (``grid_level_lt`` → "Grid level lt")."""
    tables = glossary()["tables"]
    if name in tables:
        return tables[name]
    terms = glossary()["terms"]
    words = [terms.get(w.lower(), w) for w in re.split(r"[_\s]+", name) if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:]
