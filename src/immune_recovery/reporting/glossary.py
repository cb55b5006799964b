"""The reports' one glossary (``resources/glossary.yaml``): the caption of each table a report
writes (by its file name) and the terms captions spell out."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import yaml


@cache
def glossary() -> dict:
    """The glossary: ``{"terms": {...}, "tables": {...}}``."""
    text = resources.files("immune_recovery.resources").joinpath("glossary.yaml") \
        .read_text(encoding="utf-8")
    return yaml.safe_load(text)


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
