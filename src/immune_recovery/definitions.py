"""Definitions of immunologic non-response: the published catalogue and user definitions.

A definition says when a patient has *no CD4 response* (the CD4 rule, true = no response), at
which time after ART start it is judged, and which viral-load rule decides whether the patient
was suppressed. The catalogue (``resources/definitions.yaml``) makes operational every row of
``data/reference/published_definitions.csv`` that can be; each entry keeps the reference
file's ``id``, citation and reported frequency, and says how the published wording was
turned into rules (``operational_notes``). Rows that cannot be made operational are kept with
``operational: false`` and the reason.

User definitions come from a YAML list with the same fields::

    - id: my_gain_lt50_w20
      cd4_rule: gain_lt          # gain_lt gain_le level_lt level_le rel_gain_lt
      cd4_threshold: 50          #   never_above below_baseline (cells/mm3; percent for rel_)
      assessment_day: 140        # or assessment_month: 6
      window_days: 45            # optional; default 45 (<= 12 months) or 90
      vl_rule: none              # none, at_assessment, sustained
      vl_cutoff: 400             # copies/mL: suppressed means below it
      vl_sustained_from_month: 6 # for sustained
      confirm_counts: 2          # optional; default 1 (see "Confirmation" below)
      confirm_max_gap_days: 190  # optional; default CONFIRM_MAX_GAP_DAYS
    - id: my_combined
      all_of:                    # or any_of
        - {cd4_rule: rel_gain_lt, cd4_threshold: 30}
        - {cd4_rule: level_lt, cd4_threshold: 200}
      assessment_month: 12
      vl_rule: at_assessment
      vl_cutoff: 50

Confirmation (``confirm_counts: k``, k >= 2): the assessed count is chosen as without
confirmation (closest to the target within the window); non-response then also needs the
patient's next k - 1 counts, in date order, each dated at most ``confirm_max_gap_days`` after
the count before it (they may fall outside the window), to meet the same CD4 rule against the
same baseline (``never_above``: no count above the threshold through the last of them). A
confirming count that meets no-response fails confirmation: the patient is a responder. If the
assessed count meets the rule but a confirming count is missing (no later count, or the gap is
too long), the patient is not assessable (``no_confirmatory_cd4``). No catalogue definition
uses confirmation: none of the published rules in ``published_definitions.csv`` requires two
consecutive CD4 counts (Roul 2018 confirms *viral* control, not CD4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from . import reference
from .conventions import CONFIRM_MAX_GAP_DAYS, DAYS_PER_MONTH, round_half_up
from .exceptions import DefinitionError
from .formatting import captioned

CD4_RULES = ("gain_lt", "gain_le", "level_lt", "level_le", "rel_gain_lt", "never_above",
             "below_baseline")
#: Rules that compare with the baseline count.
BASELINE_RULES = ("gain_lt", "gain_le", "rel_gain_lt", "below_baseline")
VL_RULES = ("none", "at_assessment", "sustained")
DEFAULT_WINDOW_SHORT = 45  #: days, assessments at up to 12 months
DEFAULT_WINDOW_LONG = 90  #: days, assessments beyond 12 months

USER_FIELDS = {"id", "cd4_rule", "cd4_threshold", "assessment_month", "assessment_day",
               "window_days", "vl_rule", "vl_cutoff", "vl_sustained_from_month", "all_of",
               "any_of", "confirm_counts", "confirm_max_gap_days"}
CATALOGUE_FIELDS = {"citation", "doi_or_pmid", "family", "reported_n_assessed",
                    "reported_pct_nonresponse", "frequency_estimates", "verification",
                    "operational_notes", "operational", "reason", "published_rule"}


@dataclass(frozen=True)
class CD4Criterion:
    rule: str
    threshold: float | None = None


@dataclass(frozen=True)
class Definition:
    """One operational definition of non-response."""

    id: str
    criteria: tuple[CD4Criterion, ...]
    combine: str  #: "single", "all_of" or "any_of"
    target_days: int  #: assessment target, days after T0
    window_days: int
    vl_rule: str = "none"
    vl_cutoff: float | None = None
    vl_sustained_from_days: int | None = None
    source: str = "user"
    assessment_month: float | None = None  #: as given (or None when given in days)
    vl_sustained_from_month: float | None = None
    confirm_counts: int = 1  #: consecutive counts that must meet the CD4 rule
    confirm_max_gap_days: int = CONFIRM_MAX_GAP_DAYS  #: longest gap between them, days
    info: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_relative(self) -> bool:
        return any(c.rule == "rel_gain_lt" for c in self.criteria)

    def describe(self) -> str:
        """Short human-readable statement, e.g. ``gain < 50 at month 6 (+/-45 d); RNA < 400``."""
        parts = [_describe_criterion(c) for c in self.criteria]
        joiner = " and " if self.combine == "all_of" else " or "
        text = joiner.join(parts)
        when = (f"month {self.assessment_month:g}" if self.assessment_month is not None
                else f"day {self.target_days}")
        text += f" at {when} (+/-{self.window_days} d)"
        if self.confirm_counts > 1:
            text += (f", confirmed on {self.confirm_counts} consecutive counts "
                     f"(gaps <= {self.confirm_max_gap_days} d)")
        if self.vl_rule == "at_assessment":
            text += f"; RNA < {self.vl_cutoff:g} at assessment"
        elif self.vl_rule == "sustained":
            text += (f"; every RNA < {self.vl_cutoff:g} from month "
                     f"{self.vl_sustained_from_month:g}")
        return text


    def readable_name(self) -> str:
        """The name a table shows: the CD4 rule and its time point with the source's first
        author and year, e.g. ``Gain < 50 at month 6 (Grabar 2000)`` (the full rule is in
        :meth:`describe`, the id in the table's footnote)."""
        rule = re.sub(r" \(\+/-\d+ d\)", "", self.describe().split(";")[0])
        rule = re.sub(r"\bgain\b", "CD4 gain", rule.replace("<=", "≤").replace(">=", "≥"))
        citation = str(self.info.get("citation", ""))
        author = re.match(r"([A-Z][\w'-]+) [A-Z]+ et al\.", citation)
        year = re.search(r"\b(19|20)\d{2}\b", citation)
        source = ("seed" if "seed document" in citation else
                  f"{author.group(1)} {year.group(0)}" if author and year else "")
        text = rule[:1].upper() + rule[1:]
        return f"{text} ({source})" if source else text


#: Definitions read in this process, by id (the catalogue's and every user file's), for
#: :func:`readable_name`.
_read: dict[str, Definition] = {}


def readable_name(definition_id: str) -> str | None:
    """The readable name of a definition id read in this process or in the catalogue;
    ``None`` for a value that is no known definition id."""
    if definition_id not in _read:
        load_catalogue()
    found = _read.get(definition_id)
    return found.readable_name() if found else None


def _describe_criterion(c: CD4Criterion) -> str:
    symbol = {"gain_lt": "gain <", "gain_le": "gain <=", "level_lt": "CD4 <",
              "level_le": "CD4 <=", "rel_gain_lt": "gain % <", "never_above": "never >"}
    if c.rule == "below_baseline":
        return "CD4 below baseline"
    return f"{symbol[c.rule]} {c.threshold:g}"


def _number(entry: dict, key: str, where: str, required: bool = True,
            minimum: float | None = None) -> float | None:
    value = entry.get(key)
    if value is None:
        if required:
            raise DefinitionError(f"{where}: field '{key}' is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DefinitionError(f"{where}: field '{key}' must be a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise DefinitionError(f"{where}: field '{key}' must be >= {minimum:g}, got {value!r}")
    return float(value)


def _criterion(entry: dict, where: str) -> CD4Criterion:
    rule = entry.get("cd4_rule")
    if rule not in CD4_RULES:
        raise DefinitionError(f"{where}: cd4_rule {rule!r} is not one of {', '.join(CD4_RULES)}")
    threshold = None if rule == "below_baseline" else _number(entry, "cd4_threshold", where)
    return CD4Criterion(rule=rule, threshold=threshold)


def parse_definition(entry: Any, source: str = "user", origin: str = "definitions") -> Definition:
    """Build a :class:`Definition` from one YAML entry; errors name the entry and the field."""
    if not isinstance(entry, dict):
        raise DefinitionError(f"{origin}: each definition must be a mapping, got {entry!r}")
    def_id = entry.get("id")
    if not isinstance(def_id, str) or not def_id.strip():
        raise DefinitionError(f"{origin}: a definition has no 'id' ({entry!r})")
    where = f"{origin}: definition {def_id!r}"
    allowed = USER_FIELDS | (CATALOGUE_FIELDS if source == "catalogue" else set())
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise DefinitionError(f"{where}: unknown field(s) {', '.join(unknown)}")
    combos = [k for k in ("all_of", "any_of") if k in entry]
    if len(combos) > 1 or (combos and "cd4_rule" in entry):
        raise DefinitionError(f"{where}: give either cd4_rule or one of all_of/any_of")
    if combos:
        items = entry[combos[0]]
        if not isinstance(items, list) or len(items) < 2:
            raise DefinitionError(f"{where}: {combos[0]} must list at least two criteria")
        criteria = tuple(_criterion(item if isinstance(item, dict) else {}, where)
                         for item in items)
        combine = combos[0]
    else:
        criteria = (_criterion(entry, where),)
        combine = "single"
    month = _number(entry, "assessment_month", where, required=False, minimum=0)
    day = _number(entry, "assessment_day", where, required=False, minimum=0)
    if (month is None) == (day is None):
        raise DefinitionError(f"{where}: give exactly one of assessment_month or assessment_day")
    target = round_half_up(month * DAYS_PER_MONTH) if month is not None else int(day)
    long = target > round_half_up(12 * DAYS_PER_MONTH)
    window = _number(entry, "window_days", where, required=False, minimum=0)
    window = int(window) if window is not None else (DEFAULT_WINDOW_LONG if long
                                                     else DEFAULT_WINDOW_SHORT)
    vl_rule = entry.get("vl_rule", "none")
    if vl_rule not in VL_RULES:
        raise DefinitionError(f"{where}: vl_rule {vl_rule!r} is not one of {', '.join(VL_RULES)}")
    cutoff = _number(entry, "vl_cutoff", where, required=vl_rule != "none", minimum=0)
    sustained_from = from_month = None
    if vl_rule == "sustained":
        from_month = _number(entry, "vl_sustained_from_month", where, minimum=0)
        sustained_from = round_half_up(from_month * DAYS_PER_MONTH)
    confirm = _number(entry, "confirm_counts", where, required=False, minimum=1)
    if confirm is not None and confirm != int(confirm):
        raise DefinitionError(f"{where}: field 'confirm_counts' must be a whole number, "
                              f"got {entry['confirm_counts']!r}")
    gap = _number(entry, "confirm_max_gap_days", where, required=False, minimum=1)
    info = {k: entry[k] for k in CATALOGUE_FIELDS if k in entry}
    return Definition(id=def_id, criteria=criteria, combine=combine, target_days=target,
                      window_days=window, vl_rule=vl_rule, vl_cutoff=cutoff,
                      vl_sustained_from_days=sustained_from, source=source,
                      assessment_month=month, vl_sustained_from_month=from_month,
                      confirm_counts=int(confirm or 1),
                      confirm_max_gap_days=int(gap or CONFIRM_MAX_GAP_DAYS), info=info)


def _load_yaml(text: str, origin: str) -> list:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise DefinitionError(f"{origin}:{line}: not valid YAML "
                              f"({getattr(err, 'problem', err)})") from None
    if not isinstance(data, list):
        raise DefinitionError(f"{origin}: expected a YAML list of definitions")
    return data


def catalogue_entries() -> list[dict]:
    """Raw entries of the committed catalogue, operational or not."""
    text = resources.files("immune_recovery.resources").joinpath("definitions.yaml") \
        .read_text(encoding="utf-8")
    return _load_yaml(text, "definitions.yaml")


def load_catalogue() -> dict[str, Definition]:
    """The operational published definitions, by id (catalogue order)."""
    out = {}
    for entry in catalogue_entries():
        if entry.get("operational", True) is False:
            continue
        definition = parse_definition(entry, source="catalogue", origin="definitions.yaml")
        out[definition.id] = definition
    _read.update(out)
    return out


def load_definitions_file(path: str | Path) -> dict[str, Definition]:
    """User definitions from a YAML file (a list of entries)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise DefinitionError(f"{path}: cannot read definitions file ({err.strerror})") from None
    out: dict[str, Definition] = {}
    for entry in _load_yaml(text, path.name):
        definition = parse_definition(entry, source="user", origin=path.name)
        if definition.id in out:
            raise DefinitionError(f"{path.name}: definition id {definition.id!r} appears twice")
        out[definition.id] = definition
    _read.update(out)
    return out


def published_frequency(definition: Definition) -> tuple[str | None, str | None]:
    """(percent, number assessed) as published for a catalogue definition, as text: read from
    ``inr_frequency.csv`` for the estimates its entry names (several joined by "; "), else the
    entry's own ``reported_*`` fields (numbers that table lacks); (None, None) otherwise."""
    ids = definition.info.get("frequency_estimates") or []
    if not ids:
        pct, n = (definition.info.get("reported_pct_nonresponse"),
                  definition.info.get("reported_n_assessed"))
        return (None if pct is None else str(pct)), (None if n is None else str(n))
    try:
        rows = reference.rows("inr_frequency", "estimate_id", ids)
    except KeyError as err:
        raise DefinitionError(f"{definition.id}: frequency estimate(s) {err.args[0]}") from None

    def text(values) -> str | None:
        shown = [f"{v:g}" for v in values if v == v]
        return "; ".join(shown) if shown else None

    return text(rows["pct_inr"]), text(rows["n_analysed"])


def definitions_table(definitions: list[Definition]) -> pd.DataFrame:
    """One row per definition: id, statement, published frequency and citation."""
    return captioned(pd.DataFrame([{
        "definition": d.id,
        "rule": d.describe(),
        "vl_rule": d.vl_rule,
        "reported_pct": published_frequency(d)[0],
        "reported_n": published_frequency(d)[1],
        "citation": d.info.get("citation", "user definition"),
    } for d in definitions]), "Definitions of immunologic non-response")


def select_definitions(include_catalogue: bool = True,
                       definitions_file: str | Path | None = None,
                       ids: list[str] | None = None) -> list[Definition]:
    """The one loader of definitions: the catalogue (with ``include_catalogue``) followed by
    every definition of a user file; or, given ``ids``, those definitions in that order, looked
    up in the catalogue and the file. A user id that is also a catalogue id is an error."""
    catalogue = load_catalogue()
    user = load_definitions_file(definitions_file) if definitions_file else {}
    clash = sorted(set(user) & set(catalogue))
    if clash:
        raise DefinitionError(f"{Path(definitions_file).name}: ids already in the "
                              f"catalogue: {', '.join(clash)}")
    if not ids:
        return [*(catalogue.values() if include_catalogue else ()), *user.values()]
    known = {**catalogue, **user}
    missing = [i for i in ids if i not in known]
    if missing:
        raise DefinitionError(
            f"unknown definition id(s): {', '.join(missing)} "
            "(see 'immune-recovery definitions' for the catalogue)")
    return [known[i] for i in ids]
