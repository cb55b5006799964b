"""The output checker: reads every published file of a cohort site and records what it found.

After a build, :func:`check_site` reads each file under the site folder (hidden ones
included) the way a reader could, independently of how it was made, and applies these rules:

* ``file_type``: only pages, tables, figures, notebooks and records are published (``.html``,
  ``.csv``, ``.png``, ``.ipynb``, ``.json``, ``.md``); no hidden file, no data file;
* ``small_count``: no count of 1 to ``min_cell - 1`` in a table (CSV, HTML tables, notebook
  outputs), in a sentence (``3 patients``, ``n=3``) or in a figure's text (numbers at risk);
* ``implied_count``: no share (proportion, percentage, cumulative incidence) that, times its
  denominator in the same row, gives such a count or leaves one;
* ``identifier``: no patient id of the export (ids of six or more characters, or not purely
  numeric: shorter numbers cannot be told from counts and are caught by the column rule), and
  no identifier column;
* ``date``: no date that occurs in the export (the close date and the build day excepted);
* ``path``: no absolute path, and not the export's or the work folder's path.

Figures are read through the text matplotlib drew, which :meth:`Report.figure` stores in the
PNG (``Description``). The record, ``disclosure.json`` (rules with their values, every file
with its sha256 and outcome, every finding by file and cell, cells suppressed per table),
is part of the site, in the spirit of ACRO's ``results.json``.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import multiprocessing
import re
import shutil
import subprocess
import sys
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
from PIL import Image

from ..checksums import sha256_file
from ..disclosure import Rules
from ..disclosure.figures import TRAILING_COUNT
from ..disclosure.tables import IDENTIFIER_COLUMN, Layout, disclosive_cells
from ..hicdep import read_folder

RECORD = "disclosure.json"
PUBLISHED_SUFFIXES = {".html", ".csv", ".png", ".ipynb", ".json", ".md", ".pdf", ".docx"}
TEXT_SUFFIXES = {".html", ".ipynb", ".json", ".md", ".csv"}
#: A count of people or records in running text.
COUNT_IN_TEXT = re.compile(
    r"(?<![\w.<>=])(\d+)\s+(?:early\s+|late\s+|more\s+)?(patients?|people|persons?|"
    r"non-?responders?|responders?|deaths?|events?|crossings?|left\s+out|excluded|"
    r"individuals?|women|men|cases?)\b|\bn\s*=\s*(\d+)\b", re.IGNORECASE)
#: Absolute paths of a POSIX or Windows machine.
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])(?:/(?:home|tmp|root|work|Users|mnt|media|data|srv|"
                           r"opt|var|scratch|private|Volumes|net|nfs|gpfs)/|[A-Za-z]:\\\\?)")
ISO_DATE = re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?!\d)")
TOKEN = re.compile(r"[A-Za-z0-9_\-]+")


@dataclass(frozen=True)
class Finding:
    rule: str
    file: str
    where: str
    value: str

    @property
    def report(self) -> str | None:
        """The report folder the file belongs to (``None`` for site-level files)."""
        return self.file.split("/")[0] if "/" in self.file else None

    def describe(self, with_value: bool = True) -> str:
        """The finding for the console (with the offending value) or for a published page
        and ``disclosure.json`` (``with_value=False``: the value is what must not leak)."""
        where = f"{self.file} [{self.where}]: {self.rule}"
        return f"{where} ({self.value})" if with_value else where

    def record(self) -> dict:
        """The finding as ``disclosure.json`` publishes it: rule, file and cell, no value."""
        return {"rule": self.rule, "file": self.file, "where": self.where}


@dataclass
class Secrets:
    """What must never appear: the export's patient ids, its dates, local paths."""

    patient_ids: frozenset[str] = frozenset()
    dates: frozenset[str] = frozenset()
    paths: tuple[str, ...] = ()
    allowed_dates: frozenset[str] = frozenset()

    @classmethod
    def of_export(cls, cohort_dir: Path, paths: list[Path], close_date: str | None
                  ) -> "Secrets":
        """Ids and dates of an export (read again), and the local paths given."""
        raw, _ = read_folder(cohort_dir)
        return cls.of_tables(raw.values(), close_date, paths)

    def save(self, path: Path) -> None:
        """Write the ids and dates (JSON) for :meth:`saved`: to a work folder, never a
        published one."""
        path.write_text(json.dumps({"patient_ids": sorted(self.patient_ids),
                                    "dates": sorted(self.dates)}), encoding="utf-8")

    @classmethod
    def saved(cls, path: Path, paths: list[Path], close_date: str | None) -> "Secrets":
        """The ids and dates :meth:`save` wrote (those of every row of the export as read,
        excluded rows included), with the local paths given and the dates a report may
        show."""
        record = json.loads(path.read_text(encoding="utf-8"))
        return cls(frozenset(record["patient_ids"]), frozenset(record["dates"]),
                   tuple(str(p) for p in paths), _allowed_dates(close_date))

    @classmethod
    def of_tables(cls, tables: Iterable[pd.DataFrame], close_date: str | None,
                  paths: Iterable[Path] = ()) -> "Secrets":
        """Ids and dates of a cohort's tables (raw or typed), and the local paths given; the
        close date and today are dates a report may show."""
        ids, dates = set(), set()
        for frame in tables:
            for column in frame.columns:
                name = str(column).upper()
                if name == "PATIENT":
                    unique = pd.Series(frame[column].unique(), dtype=object).dropna()
                    ids |= set(unique.astype(str).str.strip())
                elif name.endswith("_D") or "DATE" in name:
                    dates |= _iso_dates(frame[column])
        ids = {i for i in ids if len(i) >= 6 or not i.isdigit()}
        return cls(frozenset(ids), frozenset(dates),
                   tuple(str(p) for p in paths), _allowed_dates(close_date))


def _allowed_dates(close_date: str | None) -> frozenset[str]:
    """Dates a report may show: today's and the close date."""
    today = dt.date.today().isoformat()
    return frozenset({today} | ({pd.Timestamp(close_date).date().isoformat()} if close_date
                                else set()))


def _iso_dates(values: pd.Series) -> set[str]:
    unique = pd.Series(values.unique(), dtype=object).dropna()
    unique = pd.Series(unique.astype(str).str.strip().unique())
    parsed = pd.to_datetime(unique, errors="coerce", format="mixed")
    return {d.date().isoformat() for d in parsed.dropna()}


@dataclass
class SiteCheck:
    """What :func:`check_site` read and found."""

    root: Path
    rules: Rules
    files: list[dict] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    suppressed: dict[str, dict] = field(default_factory=dict)
    checks_applied: int = 0

    def by_report(self) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = {}
        for finding in self.findings:
            if finding.report:
                out.setdefault(finding.report, []).append(finding)
        return out

    def cells_suppressed(self) -> dict[str, int]:
        total: Counter = Counter()
        for tables in self.suppressed.values():
            for counts in tables.values():
                total.update(counts)
        return dict(sorted(total.items()))

    def record(self) -> dict:
        return {
            "checker": "immune_recovery.reporting.outputcheck",
            "rules": self.rules.as_record(),
            "summary": {"files_scanned": len(self.files),
                        "checks_applied": self.checks_applied,
                        "findings": len(self.findings),
                        "cells_suppressed": self.cells_suppressed(),
                        "outcome": "fail" if self.findings else "pass"},
            "findings": [f.record() for f in self.findings],
            "files": self.files,
            "suppressed_by_table": self.suppressed,
        }


def check_site(root: Path, min_cell: int, secrets: Secrets | None = None,
               min_dof: int | None = None, jobs: int = 1) -> SiteCheck:
    """Read every file under ``root``, apply the rules, write ``root/disclosure.json``.
    ``jobs``: processes reading the files (each file is checked on its own; the findings
    and the record are the same, in the same order, whatever the number)."""
    rules = Rules(min_cell) if min_dof is None else Rules(min_cell, min_dof)
    check = SiteCheck(root, rules)
    secrets = secrets or Secrets()
    paths = [p for p in sorted(root.rglob("*")) if p.is_file()
             and p.relative_to(root).as_posix() != RECORD]
    names = [p.relative_to(root).as_posix() for p in paths]
    if jobs > 1 and len(paths) > 1:
        context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context,
                                 initializer=_keep_secrets, initargs=(secrets,)) as pool:
            checked = list(pool.map(_check_kept, paths, names, [rules.min_cell] * len(paths),
                                    chunksize=max(1, len(paths) // (4 * jobs))))
    else:
        checked = [_check_file(path, name, rules.min_cell, secrets)
                   for path, name in zip(paths, names, strict=True)]
    for path, name, (found, applied) in zip(paths, names, checked, strict=True):
        check.findings += found
        check.checks_applied += applied
        check.files.append({"file": name, "sha256": sha256_file(path),
                            "bytes": path.stat().st_size,
                            "outcome": "fail" if found else "pass"})
        if path.name == "suppressed.json":
            check.suppressed[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
    (root / RECORD).write_text(json.dumps(check.record(), indent=1) + "\n", encoding="utf-8")
    return check


#: The secrets a checking process was started with (:func:`check_site` with ``jobs``).
_KEPT: list[Secrets] = []


def _keep_secrets(secrets: Secrets) -> None:
    _KEPT[:] = [secrets]


def _check_kept(path: Path, name: str, k: int) -> tuple[list[Finding], int]:
    return _check_file(path, name, k, _KEPT[0])


def _check_file(path: Path, name: str, k: int, secrets: Secrets) -> tuple[list[Finding], int]:
    """One file's findings, and how many checks were applied to it."""
    if any(part.startswith(".") for part in Path(name).parts) or \
            path.suffix not in PUBLISHED_SUFFIXES:
        return [Finding("file_type", name, "file", "not a page, table, figure or record")], 1
    applied = 0
    findings: list[Finding] = []
    if path.suffix in TEXT_SUFFIXES:
        text = path.read_text(encoding="utf-8", errors="replace")
        findings += _secrets_in(text, name, secrets)
        applied += 3
    if path.suffix == ".csv":
        findings += check_table(_read_csv(path), name, "table", k)
        applied += 2
    elif path.suffix == ".html":
        findings += _check_html(path.read_text(encoding="utf-8"), name, "page", k)
        applied += 3
    elif path.suffix == ".ipynb":
        for index, html_text, plain in _notebook_outputs(path):
            findings += _check_html(html_text, name, f"cell {index}", k) if html_text else []
            findings += _text_counts(plain, name, f"cell {index}", k)
        applied += 3
    elif path.suffix in (".pdf", ".docx"):
        findings += _check_printed(path, name, secrets)
        applied += 2
    elif path.suffix == ".png":
        description = Image.open(path).text.get("Description", "")
        findings += _text_counts(description, name, "figure text", k)
        findings += _at_risk_counts(description, name, k)
        findings += _secrets_in(description, name, secrets)
        applied += 3
    return findings, applied


#: Words a printed version adds to its page (the PDF's running foot: "page 2 of 9").
PRINT_WORDS = {"page", "of"}


def _check_printed(path: Path, name: str, secrets: Secrets) -> list[Finding]:
    """A report's PDF or Word file: readable, free of the export's ids, dates and local
    paths, and made from its page: every word and number in it (three characters or more)
    is on the page beside it, which the checker reads table by table."""
    text = printed_text(path)
    if text is None:
        return [Finding("unreadable", name, "file", "no text could be read from it "
                        "(pdftotext, from poppler-utils, reads PDFs)")]
    findings = _secrets_in(text, name, secrets)
    findings += [Finding("path", name, "link or metadata", m.group(0))
                 for m in LOCAL_ADDRESS.finditer(printed_raw(path))][:10]
    page = path.with_suffix(".html")
    if not page.is_file():
        return findings + [Finding("not_on_page", name, "file", "a printed version without "
                                   "its page")]
    shown = _page_text(page.read_text(encoding="utf-8"))
    words = {t.strip("-") for t in TOKEN.findall(text)}  # a word broken at a line's end
    extra = sorted(t for t in words if len(t) >= 3 and t.lower() not in PRINT_WORDS
                   and t not in shown)
    if extra:
        findings.append(Finding("not_on_page", name, "text", ", ".join(extra[:10])))
    return findings


def _page_text(markup: str) -> str:
    """The visible text of a page (tags, styles and scripts dropped), for finding words."""
    parser = _Tables()
    parser.feed(markup)
    cells = [c for table in parser.tables for row in table for c in row]
    return unicodedata.normalize("NFKC", " ".join([*parser.text, *cells]))


#: An address on the machine: a file:// URI or an absolute path (in a link, in metadata).
LOCAL_ADDRESS = re.compile(r"file://[^\s)>\"']*|" + ABSOLUTE_PATH.pattern)


#: A PDF's link targets and document information, stored as plain strings.
PDF_STRINGS = re.compile(rb"/(?:URI|Title|Author|Subject|Keywords|Creator|Producer)\s*"
                         rb"\(((?:[^()\\]|\\.)*)\)")


def printed_raw(path: Path) -> str:
    """What a printed report holds besides its text: a PDF's link targets and document
    information, a Word file's XML parts (relationships hold link targets); empty when it
    cannot be read."""
    try:
        if path.suffix == ".docx":
            with zipfile.ZipFile(path) as archive:
                return "\n".join(archive.read(n).decode("utf-8", "replace")
                                 for n in archive.namelist() if n.endswith((".xml", ".rels")))
        return "\n".join(m.group(1).decode("latin-1")
                         for m in PDF_STRINGS.finditer(path.read_bytes()))
    except (OSError, zipfile.BadZipFile):
        return ""


def printed_text(path: Path) -> str | None:
    """The text of a printed report: a Word file's document XML without its tags, a PDF's
    text by poppler's ``pdftotext -raw`` (content order, words broken at a line's end not
    joined), None when it cannot be read."""
    if path.suffix == ".docx":
        try:
            with zipfile.ZipFile(path) as archive:
                xml = archive.read("word/document.xml").decode("utf-8")
        except (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError):
            return None
        # paragraphs and table cells end a line; every other tag is dropped
        return html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"</w:p>|</w:tc>", "\n", xml)))
    tool = shutil.which("pdftotext")
    if tool is None:
        return None
    run = subprocess.run([tool, "-raw", str(path), "-"], capture_output=True, text=True,
                         check=False)
    return unicodedata.normalize("NFKC", run.stdout) if run.returncode == 0 else None


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return pd.DataFrame()


def _as_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells that read as numbers become numbers (as a reader's spreadsheet would)."""
    out = frame.copy()
    for column in out.columns:
        numbers = pd.to_numeric(out[column].where(out[column] != ""), errors="coerce")
        if numbers.notna().sum() and numbers.notna().sum() == (out[column] != "").sum():
            out[column] = numbers
    return out


def check_table(frame: pd.DataFrame, name: str, where: str, k: int) -> list[Finding]:
    """Small and implied counts, and identifier columns, in one published table."""
    findings = [Finding("identifier", name, f"{where}, column {c}", "identifier column")
                for c in frame.columns if IDENTIFIER_COLUMN.match(str(c))]
    if not k or frame.empty:
        return findings
    frame = _as_values(frame)
    return findings + [Finding(rule, name, f"{where}, row {i + 1}, column {column}", what)
                       for i, column, rule, what in disclosive_cells(frame, Layout.of(frame), k)]


def _secrets_in(text: str, name: str, secrets: Secrets) -> list[Finding]:
    findings = []
    for match in ABSOLUTE_PATH.finditer(text):
        findings.append(Finding("path", name, f"offset {match.start()}",
                                text[match.start():match.start() + 40]))
    for path in secrets.paths:
        if path and path in text:
            findings.append(Finding("path", name, f"offset {text.index(path)}", path))
    if secrets.patient_ids:
        hits = sorted(set(TOKEN.findall(text)) & secrets.patient_ids)
        findings += [Finding("identifier", name, "text", hit) for hit in hits[:20]]
    if secrets.dates:
        hits = sorted((set(ISO_DATE.findall(text)) & secrets.dates) - secrets.allowed_dates)
        findings += [Finding("date", name, "text", hit) for hit in hits[:20]]
    return findings


def _text_counts(text: str, name: str, where: str, k: int) -> list[Finding]:
    if not k:
        return []
    findings = []
    for match in COUNT_IN_TEXT.finditer(text):
        value = int(match.group(1) or match.group(3))
        if 0 < value < k:
            findings.append(Finding("small_count", name, where, match.group(0).strip()))
    return findings


def _at_risk_counts(text: str, name: str, k: int) -> list[Finding]:
    """Numbers at risk under a Kaplan-Meier plot: the number ending each line of a
    multi-line tick label."""
    findings = []
    for label in text.split("\x1e"):
        lines = label.split("\n")
        if len(lines) < 2:
            continue
        for line in lines:
            match = TRAILING_COUNT.search(line)
            if match and 0 < int(match.group(1)) < k:
                findings.append(Finding("small_count", name, "figure, numbers at risk",
                                        line.strip()))
    return findings


class _Tables(HTMLParser):
    """The tables of an HTML page (header and body cells as text) and its running text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.text: list[str] = []
        self._depth = 0
        self._cell: list[str] | None = None
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "table":
            self._depth += 1
            self.tables.append([])
        elif tag == "tr" and self._depth:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self._depth:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag == "table":
            self._depth = max(0, self._depth - 1)
        elif tag in ("td", "th") and self._cell is not None and self._depth:
            if self.tables[-1]:
                self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._skip:
            return
        if self._cell is not None:
            self._cell.append(data)
        else:
            self.text.append(data)


def _check_html(text: str, name: str, where: str, k: int) -> list[Finding]:
    parser = _Tables()
    parser.feed(text)
    findings = _text_counts(" ".join(parser.text), name, where, k)
    for number, rows in enumerate(parser.tables, start=1):
        rows = [r for r in rows if r]
        if len(rows) < 2:
            continue
        header, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
        if not body or len(set(header)) != len(header):
            continue
        frame = pd.DataFrame(body, columns=header)
        findings += check_table(frame, name, f"{where}, table {number}", k)
    return findings


def _notebook_outputs(path: Path):
    """(cell index, HTML, plain text and Markdown) of every output of a notebook."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") == "markdown":
            yield index, "", "".join(cell.get("source", ""))
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            html_text = "".join(data.get("text/html", ""))
            plain = "".join(output.get("text", "")) + "".join(data.get("text/markdown", ""))
            if not html_text:
                plain += "".join(data.get("text/plain", ""))
            yield index, html_text, plain


def figure_text(fig) -> str:
    """Every text a matplotlib figure draws (titles, labels, ticks, annotations, legends),
    separated by ``\\x1e``: stored in the PNG for :func:`check_site` to read."""
    fig.canvas.draw()  # tick labels exist once drawn
    texts = []
    for artist in fig.findobj(lambda a: hasattr(a, "get_text") and callable(a.get_text)):
        text = artist.get_text()
        if isinstance(text, str) and text.strip() and artist.get_visible():
            texts.append(text)
    return "\x1e".join(texts)
