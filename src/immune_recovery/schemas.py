"""HICDEP tables as pandera schemas: the single statement of each table the package reads.

HICDEP (HIV Cohorts Data Exchange Protocol, https://hicdep.org) is the exchange format of
European and international HIV cohort collaborations (EuroSIDA, COHERE, ART-CC, IeDEA-DES).
Field names and codes below are HICDEP's. Each column's ``metadata`` says how the raw text is
parsed (``kind``), its unit, and which quality rule a missing value breaks.

Two kinds of problem are told apart:

* **unreadable input** (a value that cannot be parsed as its column's type, a missing file or
  column): loading stops with :class:`~immune_recovery.exceptions.InputError`;
* **parseable but implausible rows** (values out of range, unknown codes, duplicates, dates
  before birth or after death, patients missing from ``tblBAS``): the row is excluded into the
  exclusion ledger with the rule it broke. Rules carry HICDEP quality-check codes where HICDEP
  has one (``CW001``... for ``tblLAB_CD4``, ``RW001``... for ``tblLAB_RNA``, ``ATC00x`` across
  tables, ``RC001`` for patients not in ``tblBAS``); the others are named ``IR-<table>-<n>``.

Extra table: ``tblSTUDY`` (not HICDEP) holds study-specific covariates and trial endpoints
that HICDEP lacks, one row per patient. Its documented columns are listed in
:data:`STUDY_COLUMNS`; a data set may add others, which are read as numbers when they parse
as numbers and as text otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa

from .conventions import CD4_ABSOLUTE_UNIT

# --------------------------------------------------------------------------------------
# Quality rules. The rule id is the pandera check name and the ledger's ``rule``; ``hicdep``
# is the HICDEP quality-check code it implements (empty where HICDEP has none); ``action``
# says what happens to a row that breaks it:
#   exclude - the row leaves the analysis (ledger: excluded),
#   blank   - the offending value is set missing, the row stays (ledger: flagged),
#   flag    - the row stays as it is (ledger: flagged).
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    hicdep: str
    action: str
    description: str
    column: str | None = None  #: the column a row-wise (whole-table) check reports


_R = Rule
RULE_TABLE: dict[str, Rule] = {
    # dates in any table
    "IR-DATE-1": _R("", "blank", "date is the HICDEP 'unknown' sentinel 1911-11-11"),
    "IR-DATE-2": _R("", "blank", "date precision (_A) is U (unknown): the date is unusable"),
    "IR-DATE-3": _R("ATC006", "flag", "date precision (_A) not a HICDEP code (<, D, M, Y, >, U)"),
    "IR-DATE-4": _R("ATC004", "blank", "a secondary date (e.g. a stop date) in the future"),
    "IR-DATE-5": _R("ATC003", "blank", "a tblBAS or tblLTFU date (other than death or drop-out) "
                    "before the patient's birth: set missing"),
    # tblBAS
    "IR-BAS-1": _R("", "exclude", "tblBAS: PATIENT missing"),
    "IR-BAS-2": _R("", "exclude", "tblBAS: PATIENT appears more than once (first row kept)"),
    "IR-BAS-3": _R("ATC006", "blank", "tblBAS: SEX not a HICDEP code (1, 2, 9)"),
    "IR-BAS-4": _R("ATC006", "blank", "tblBAS: yes/no field not 0, 1 or 9"),
    "IR-BAS-5": _R("ATC006", "blank", "tblBAS: MODE not a HICDEP code"),
    "IR-BAS-6": _R("ATC004", "blank", "tblBAS: date in the future"),
    "IR-BAS-7": _R("", "flag", "tblBAS: a code left blank (SEX, MODE, AIDS_Y or RECART_Y): "
                   "HICDEP writes 'unknown' as 9 (MODE 99)"),
    # tblART
    "IR-ART-1": _R("", "exclude", "tblART: PATIENT, ART_ID or ART_SD missing"),
    "IR-ART-2": _R("", "exclude", "tblART: ART_ED before ART_SD", "ART_ED"),
    "IR-ART-3": _R("ATC006", "exclude",
                   "tblART: ART_ID is not an ATC code for an antiretroviral (J05A...)"),
    "IR-ART-4": _R("", "exclude",
                   "tblART: same PATIENT, ART_ID and ART_SD more than once (first row kept)"),
    # tblMED
    "IR-MED-1": _R("", "exclude", "tblMED: PATIENT, MED_ID or MED_SD missing"),
    "IR-MED-2": _R("", "exclude", "tblMED: MED_ED before MED_SD", "MED_ED"),
    # tblLAB_CD4 (HICDEP CW00x)
    "CW001": _R("CW001", "exclude",
                "tblLAB_CD4: CD4_V outside 0-7500 cells/mm3 (absolute) or 0-100 (percent)", "CD4_V"),
    "CW002": _R("CW002", "exclude",
                "tblLAB_CD4: same PATIENT, CD4_D and CD4_U more than once (first row kept)"),
    "CW003": _R("CW003", "exclude", "tblLAB_CD4: CD4_D missing"),
    "CW004": _R("CW004", "exclude", "tblLAB_CD4: CD4_V missing"),
    "CW005": _R("CW005", "exclude", "tblLAB_CD4: CD4_U missing"),
    "CW006": _R("CW006", "exclude",
                "tblLAB_CD4: CD4_U not a HICDEP code (1 cells/mm3, 2 percent)"),
    "CW007": _R("CW007", "exclude", "tblLAB_CD4: CD4_U = 2 (percent) with CD4_V > 100", "CD4_V"),
    "CW008": _R("CW008", "flag", "tblLAB_CD4: absolute count above 3000 cells/mm3 (unusual)", "CD4_V"),
    "CW009": _R("CW009", "flag", "tblLAB_CD4: sudden spike or dip (2.5-fold and 300 cells/mm3 "
                                 "away from both neighbouring counts)"),
    "IR-CD4-1": _R("", "exclude", "tblLAB_CD4: PATIENT missing"),
    # tblLAB_RNA (HICDEP RW00x)
    "RW001": _R("RW001", "exclude",
                "tblLAB_RNA: same PATIENT and RNA_D more than once (first row kept)"),
    "RW002": _R("RW002", "flag", "tblLAB_RNA: RNA_V below 0 with RNA_L missing", "RNA_V"),
    "RW003": _R("RW003", "flag", "tblLAB_RNA: RNA_V above 10000 ending in ...001 with RNA_UL "
                                 "missing (an 'above the upper limit' coding)", "RNA_V"),
    "RW004": _R("RW004", "exclude", "tblLAB_RNA: RNA_D missing"),
    "RW005": _R("RW005", "exclude", "tblLAB_RNA: RNA_V missing"),
    "RW006": _R("RW006", "exclude", "tblLAB_RNA: RNA_V above 10 million copies/mL"),
    "RW007": _R("RW007", "flag", "tblLAB_RNA: detectable RNA_V below the assay limit RNA_L", "RNA_V"),
    "RW008": _R("RW008", "flag", "tblLAB_RNA: RNA_V above the assay's upper limit RNA_UL", "RNA_V"),
    "IR-RNA-1": _R("", "exclude", "tblLAB_RNA: PATIENT missing"),
    "IR-RNA-2": _R("", "exclude", "tblLAB_RNA: RNA_L negative"),
    # tblDIS
    "IR-DIS-1": _R("", "exclude", "tblDIS: PATIENT, DIS_ID or DIS_D missing"),
    "IR-DIS-2": _R("", "exclude",
                   "tblDIS: same PATIENT, DIS_ID and DIS_D more than once (first row kept)"),
    # tblCEP
    "IR-CEP-1": _R("", "exclude", "tblCEP: PATIENT, CEP_ID or CEP_D missing"),
    "IR-CEP-2": _R("", "exclude",
                   "tblCEP: same PATIENT, CEP_ID and CEP_D more than once (first row kept)"),
    "IR-CEP-3": _R("ATC006", "flag", "tblCEP: CEP_ID not in the HICDEP clinical-event code "
                   "list (AMI, CLD, COR, DIA, ESRD, FAT, ICP, NADM, STR)", "CEP_ID"),
    # tblLTFU
    "IR-LTFU-1": _R("", "exclude", "tblLTFU: PATIENT missing"),
    "IR-LTFU-2": _R("", "exclude", "tblLTFU: PATIENT appears more than once (first row kept)"),
    "IR-LTFU-3": _R("ATC006", "exclude", "tblLTFU: DROP_Y or DEATH_Y not 0 or 1"),
    "IR-LTFU-4": _R("", "exclude", "tblLTFU: DEATH_Y = 1 without DEATH_D (a date of precision "
                    "U is kept: died, date unknown)", "DEATH_D"),
    # tblSTUDY
    "IR-STUDY-1": _R("", "exclude", "tblSTUDY: PATIENT missing"),
    "IR-STUDY-2": _R("", "exclude", "tblSTUDY: PATIENT appears more than once (first row kept)"),
    "IR-STUDY-3": _R("ATC006", "blank", "tblSTUDY: ENDPOINT_Y not 0 or 1"),
    # across tables
    "RC001": _R("RC001", "exclude", "patient not in tblBAS"),
    "ATC001": _R("ATC001", "exclude", "date after the patient's death (tblLTFU.DEATH_D)"),
    "ATC002": _R("ATC002", "exclude", "date after the patient's drop-out (tblLTFU.DROP_D)"),
    "ATC003": _R("ATC003", "exclude", "date before the patient's birth (tblBAS.BIRTH_D)"),
    "ATC004": _R("ATC004", "exclude", "measurement, event or treatment dated in the future"),
    "IR-DATE-6": _R("ATC001", "flag", "a stop date (ART_ED, MED_ED) after the patient's death "
                    "(tblLTFU.DEATH_D)"),
}

#: Rule id -> description (the ledger's ``description`` column).
RULES: dict[str, str] = {rule: r.description for rule, r in RULE_TABLE.items()}

#: HICDEP checks deliberately left out, with the reason (shown by the data-quality report).
NOT_IMPLEMENTED: dict[str, str] = {
    "checks on tblVIS, tblLAB, tblLAB_VIRO, tblCANC and other tables; tblCEP's "
    "verification fields":
        "the package does not read these tables",
    "CW009 as specified by a cohort":
        "HICDEP names sudden spikes without a formula; CW009 here is a 2.5-fold and "
        "300 cells/mm3 jump away from both neighbouring counts",
}

SENTINEL_UNKNOWN_DATE = pd.Timestamp("1911-11-11")
DATE_PRECISION_CODES = ("<", "D", "M", "Y", ">", "U")

# HICDEP code lists used by the checks.
SEX_CODES = [1, 2, 9]
YES_NO_UNKNOWN = [0, 1, 9]
YES_NO = [0, 1]
MODE_CODES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 90, 99]
CD4_UNIT_CODES = [1, 2]  # 1 cells/mm3 (= cells/uL), 2 percent
CD4_MAX_CELLS = 7500.0  # cells/mm3, HICDEP / IeDEA-DES plausibility limit
RNA_MAX_COPIES = 10_000_000.0  # copies/mL, HICDEP RW006
#: CW009 (HICDEP names sudden spikes without a formula; ours): a count this many times and
#: this many cells/mm3 away from both neighbouring counts, in the same direction.
CD4_SPIKE_FOLD = 2.5
CD4_SPIKE_CELLS = 300.0
#: Cross-table rules for tables whose rows are dated events or measurements.
DATED_ROW_RULES = ("RC001", "ATC003", "ATC001", "ATC002")


def _col(
    kind: str,
    *,
    description: str,
    required: bool = False,
    nullable: bool = True,
    checks: list[pa.Check] | None = None,
    missing_rule: str | None = None,
    unit: str | None = None,
) -> pa.Column:
    """A column with its parse ``kind`` ("id", "text", "date", "number", "code")."""
    dtype = {
        "id": "str",
        "text": "str",
        "date": "datetime64[ns]",
        "number": "float64",
        "code": "Int64",
    }[kind]
    return pa.Column(
        dtype,
        checks=checks or [],
        nullable=nullable,
        required=required,
        description=description,
        metadata={"kind": kind, "unit": unit, "missing_rule": missing_rule},
    )


def _check(rule: str, fn) -> pa.Check:
    """A column check named by its rule code (pandera's built-ins report their call instead)."""
    return pa.Check(fn, name=rule, error=rule)


def _isin(codes: list[int], rule: str) -> pa.Check:
    return _check(rule, lambda s: s.isin(codes))


@dataclass(frozen=True)
class TableSpec:
    """One HICDEP table: file stem, pandera schema, and how duplicates are defined."""

    name: str
    schema: pa.DataFrameSchema
    required: bool
    unique: list[str] = field(default_factory=list)
    unique_rule: str | None = None
    date_columns: tuple[str, ...] = ()
    #: The date that places a row in time (checked against birth, death, drop-out and the
    #: close date: a primary date in the future excludes the row, another date is blanked).
    primary_date: str | None = None
    #: Cross-table rules that apply to the table's rows (see :data:`RULE_TABLE`): ``RC001``
    #: patient not in tblBAS; ``ATC003`` before birth; ``ATC001``/``ATC002`` after death or
    #: drop-out (all on ``primary_date``; tblLTFU: ATC003 on its death and drop-out dates).
    cross_table: tuple[str, ...] = ()
    #: Parameters of the table's checks (e.g. the CW009 spike rule's fold and distance).
    check_params: Mapping[str, float] = field(default_factory=dict)

    @property
    def columns(self) -> dict[str, pa.Column]:
        return self.schema.columns

    def kind(self, column: str) -> str:
        return self.columns[column].metadata["kind"]


def _codes_given(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    """Rows where every code column the export has (not all blank) is given."""
    given = [c for c in columns if c in df and df[c].notna().any()]
    return df[given].notna().all(axis=1) if given else pd.Series(True, index=df.index)


def _df_check(rule: str, fn) -> pa.Check:
    """A row-wise check over the whole table; rows where ``fn`` is False break ``rule``.

    ``fn`` must treat missing values itself (comparisons with NaT are False, not NA).
    """
    return pa.Check(lambda df: fn(df).fillna(True).astype(bool), name=rule, error=rule)


BAS = TableSpec(
    name="tblBAS",
    required=True,
    unique=["PATIENT"],
    unique_rule="IR-BAS-2",
    date_columns=("BIRTH_D", "ENROL_D", "HIV_POS_D", "AIDS_D", "RECART_D", "FRSVIS_D"),
    schema=pa.DataFrameSchema(
        {
            "PATIENT": _col("id", description="patient identifier", required=True,
                            nullable=False, missing_rule="IR-BAS-1"),
            "PROGRAM": _col("text", description="programme (IeDEA DES; data-quality counts "
                            "by programme)"),
            "CENTER": _col("text", description="centre within the programme (IeDEA DES)"),
            "BIRTH_D": _col("date", description="date of birth"),
            "BIRTH_D_A": _col("text", description="precision of BIRTH_D (D, M, Y, U, <, >)"),
            "FRSVIS_D": _col("date", description="first visit at the clinic"),
            "ENROL_D": _col("date", description="enrolment into the cohort"),
            "SEX": _col("code", description="sex: 1 male, 2 female, 9 unknown",
                        checks=[_isin(SEX_CODES, "IR-BAS-3")]),
            "MODE": _col("code", description="mode of infection (HICDEP code list)",
                         checks=[_isin(MODE_CODES, "IR-BAS-5")]),
            "HIV_POS_D": _col("date", description="first positive HIV test"),
            "AIDS_Y": _col("code", description="AIDS diagnosis ever: 0 no, 1 yes, 9 unknown",
                           checks=[_isin(YES_NO_UNKNOWN, "IR-BAS-4")]),
            "AIDS_D": _col("date", description="date of AIDS diagnosis"),
            "RECART_Y": _col("code", description="ever started ART: 0 no, 1 yes, 9 unknown",
                             checks=[_isin(YES_NO_UNKNOWN, "IR-BAS-4")]),
            "RECART_D": _col("date", description="date ART was first started (time origin T0)"),
        },
        checks=[_df_check("IR-BAS-7", lambda df: _codes_given(df, BAS_CODE_COLUMNS))],
        strict=False,
    ),
)

ART = TableSpec(
    name="tblART",
    required=False,
    unique=["PATIENT", "ART_ID", "ART_SD"],
    unique_rule="IR-ART-4",
    date_columns=("ART_SD", "ART_ED"),
    primary_date="ART_SD",
    cross_table=DATED_ROW_RULES,
    schema=pa.DataFrameSchema(
        {
            "PATIENT": _col("id", description="patient identifier", required=True,
                            nullable=False, missing_rule="IR-ART-1"),
            "ART_ID": _col("text", description="ATC code of the antiretroviral drug",
                           required=True, nullable=False, missing_rule="IR-ART-1",
                           checks=[_check("IR-ART-3", lambda s: s.str.startswith("J05A"))]),
            "ART_SD": _col("date", description="start date", required=True, nullable=False,
                           missing_rule="IR-ART-1"),
            "ART_ED": _col("date", description="stop date (missing while ongoing)"),
            "ART_RS": _col("text", description="reason for stopping (HICDEP code list)"),
        },
        checks=[_df_check("IR-ART-2", lambda df: df["ART_ED"].isna()
                          | (df["ART_ED"] >= df["ART_SD"]))],
        strict=False,
    ),
)

MED = TableSpec(
    name="tblMED",
    required=False,
    date_columns=("MED_SD", "MED_ED"),
    primary_date="MED_SD",
    cross_table=DATED_ROW_RULES,
    schema=pa.DataFrameSchema(
        {
            "PATIENT": _col("id", description="patient identifier", required=True,
                            nullable=False, missing_rule="IR-MED-1"),
            "MED_ID": _col("text", description="ATC code of the medication (e.g. J01EE01 "
                           "sulfamethoxazole and trimethoprim)", required=True, nullable=False,
                           missing_rule="IR-MED-1"),
            "MED_SD": _col("date", description="start date", required=True, nullable=False,
                           missing_rule="IR-MED-1"),
            "MED_ED": _col("date", description="stop date"),
            "MEDSTART_RS": _col("code", description="1 treatment, 2 prophylaxis, 9 unknown"),
        },
        checks=[_df_check("IR-MED-2", lambda df: df["MED_ED"].isna()
                          | (df["MED_ED"] >= df["MED_SD"]))],
        strict=False,
    ),
)

LAB_CD4 = TableSpec(
    name="tblLAB_CD4",
    required=True,
    unique=["PATIENT", "CD4_D", "CD4_U"],
    unique_rule="CW002",
    date_columns=("CD4_D",),
    primary_date="CD4_D",
    cross_table=DATED_ROW_RULES,
    check_params={"spike_fold": CD4_SPIKE_FOLD, "spike_cells": CD4_SPIKE_CELLS},
    schema=pa.DataFrameSchema(
        {
            "PATIENT": _col("id", description="patient identifier", required=True,
                            nullable=False, missing_rule="IR-CD4-1"),
            "CD4_D": _col("date", description="sample date", required=True, nullable=False,
                          missing_rule="CW003"),
            "CD4_V": _col("number", description="CD4 value in CD4_U units", required=True,
                          nullable=False, missing_rule="CW004", unit="cells/mm3 or percent"),
            "CD4_U": _col("code", description="unit: 1 cells/mm3, 2 percent", required=True,
                          nullable=False, missing_rule="CW005",
                          checks=[_isin(CD4_UNIT_CODES, "CW006")]),
        },
        checks=[
            _df_check(
                "CW007",
                lambda df: ~((df["CD4_U"] == 2) & (df["CD4_V"] > 100)),
            ),
            _df_check("CW008", lambda df: ~((df["CD4_U"] == CD4_ABSOLUTE_UNIT) & (df["CD4_V"] > 3000))),
            _df_check(
                "CW001",
                lambda df: ~((df["CD4_U"] == CD4_ABSOLUTE_UNIT)
                             & ((df["CD4_V"] < 0) | (df["CD4_V"] > CD4_MAX_CELLS)))
                & ~((df["CD4_U"] == 2) & (df["CD4_V"] < 0)),
            ),
        ],
        strict=False,
    ),
)

LAB_RNA = TableSpec(
    name="tblLAB_RNA",
    required=False,
    unique=["PATIENT", "RNA_D"],
    unique_rule="RW001",
    date_columns=("RNA_D",),
    primary_date="RNA_D",
    cross_table=DATED_ROW_RULES,
    schema=pa.DataFrameSchema(
        {
            "PATIENT": _col("id", description="patient identifier", required=True,
                            nullable=False, missing_rule="IR-RNA-1"),
            "RNA_D": _col("date", description="sample date", required=True, nullable=False,
                          missing_rule="RW004"),
            "RNA_V": _col("number", description="HIV-1 RNA in copies/mL; negative = below "
                          "the limit: -1 undetectable (limit unknown), -L below limit L",
                          required=True, nullable=False, missing_rule="RW005",
                          unit="copies/mL",
                          checks=[_check("RW006", lambda s: s <= RNA_MAX_COPIES)]),
            "RNA_L": _col("number", description="lower limit of the assay", unit="copies/mL",
                          checks=[_check("IR-RNA-2", lambda s: s >= 0)]),
            "RNA_T": _col("code", description="assay type (HICDEP code list)"),
            "RNA_UL": _col("number", description="upper limit of the assay", unit="copies/mL"),
        },
        checks=[
            _df_check("RW002", lambda df: ~((df["RNA_V"] < 0) & df["RNA_L"].isna())),
            _df_check("RW003", lambda df: ~((df["RNA_V"] > 10_000)
                                            & (np.mod(df["RNA_V"], 1000) == 1)
                                            & df["RNA_UL"].isna())),
            _df_check("RW007", lambda df: ~((df["RNA_V"] >= 0) & (df["RNA_V"] < df["RNA_L"]))),
            _df_check("RW008", lambda df: ~(df["RNA_V"] > df["RNA_UL"])),
        ],
        strict=False,
    ),
)

DIS = TableSpec(
    name="tblDIS",
    required=False,
    unique=["PATIENT", "DIS_ID", "DIS_D"],
    unique_rule="IR-DIS-2",
    date_columns=("DIS_D",),
    primary_date="DIS_D",
    cross_table=DATED_ROW_RULES,
    schema=pa.DataFrameSchema(
        {
            "PATIENT": _col("id", description="patient identifier", required=True,
                            nullable=False, missing_rule="IR-DIS-1"),
            "DIS_ID": _col("text", description="disease code (HICDEP list; AIDS = "
                           "AIDS-defining event, type not given by the source)",
                           required=True, nullable=False, missing_rule="IR-DIS-1"),
            "DIS_D": _col("date", description="date of diagnosis", required=True,
                          nullable=False, missing_rule="IR-DIS-1"),
            "DIS_WD": _col("code", description="1 definitive, 2 presumptive, 3 autopsy, "
                           "4 registry"),
        },
        strict=False,
    ),
)

#: ``CEP_ID`` codes counted as serious non-AIDS events (HICDEP clinical events, formerly
#: tblAE's ``AE_ID``: https://hicdep.org/wiki/Hicdep_1.30/TableAe/FieldAeId): acute myocardial
#: infarction, coronary death, invasive cardiovascular procedure, stroke, end-stage renal
#: disease, chronic liver disease, non-AIDS-defining malignancy.
SERIOUS_NON_AIDS = frozenset({"AMI", "COR", "ICP", "STR", "ESRD", "CLD", "NADM"})
#: The HICDEP clinical-event codes (1.30 ``AE_ID`` coding table, the same page): the serious
#: non-AIDS events, diabetes mellitus (DIA) and fatal case with insufficient data (FAT).
#: Later HICDEP versions extend the list, so an unknown code is flagged, not excluded.
CEP_CODES = SERIOUS_NON_AIDS | {"DIA", "FAT"}
#: tblBAS codes whose blank HICDEP writes as "unknown" (9, MODE 99).
BAS_CODE_COLUMNS = ("SEX", "MODE", "AIDS_Y", "RECART_Y")

CEP = TableSpec(
    name="tblCEP",
    required=False,
    unique=["PATIENT", "CEP_ID", "CEP_D"],
    unique_rule="IR-CEP-2",
    date_columns=("CEP_D",),
    primary_date="CEP_D",
    cross_table=DATED_ROW_RULES,
    schema=pa.DataFrameSchema(
        {
            "PATIENT": _col("id", description="patient identifier", required=True,
                            nullable=False, missing_rule="IR-CEP-1"),
            "CEP_ID": _col("text", description="clinical event code (HICDEP list: AMI, COR, "
                           "ICP, STR, ESRD, CLD, NADM count as serious non-AIDS events)",
                           required=True, nullable=False, missing_rule="IR-CEP-1",
                           checks=[_check("IR-CEP-3", lambda s: s.str.strip().str.upper()
                                          .isin(CEP_CODES))]),
            "CEP_D": _col("date", description="date of the event", required=True,
                          nullable=False, missing_rule="IR-CEP-1"),
        },
        strict=False,
    ),
)

LTFU = TableSpec(
    name="tblLTFU",
    required=False,
    unique=["PATIENT"],
    unique_rule="IR-LTFU-2",
    date_columns=("DROP_D", "DEATH_D", "L_ALIVE_D"),
    cross_table=("RC001", "ATC003"),
    schema=pa.DataFrameSchema(
        {
            "PATIENT": _col("id", description="patient identifier", required=True,
                            nullable=False, missing_rule="IR-LTFU-1"),
            "DROP_Y": _col("code", description="dropped out: 0 no, 1 yes",
                           checks=[_isin(YES_NO, "IR-LTFU-3")]),
            "DROP_D": _col("date", description="date of drop-out (last visit)"),
            "DEATH_Y": _col("code", description="died: 0 no, 1 yes",
                            checks=[_isin(YES_NO, "IR-LTFU-3")]),
            "DEATH_D": _col("date", description="date of death"),
            "L_ALIVE_D": _col("date", description="last date known alive"),
        },
        checks=[_df_check("IR-LTFU-4", lambda df: ~((df["DEATH_Y"] == 1)
                                                    & df["DEATH_D"].isna()
                                                    & ~_unknown_precision(df, "DEATH_D")))],
        strict=False,
    ),
)

def _unknown_precision(df: pd.DataFrame, column: str) -> pd.Series:
    """Rows whose ``<column>_A`` precision code is U (the date was given as unknown)."""
    if f"{column}_A" not in df:
        return pd.Series(False, index=df.index)
    return (df[f"{column}_A"].astype("string").str.strip() == "U").fillna(False).astype(bool)


#: Documented columns of the extra table ``tblSTUDY`` (not HICDEP).
STUDY_COLUMNS: dict[str, str] = {
    "PATIENT": "patient identifier",
    "ARM": "randomised arm (label), trials only",
    "FU_END_D": "end of the study's follow-up for the patient (event or censoring date)",
    "ENDPOINT_Y": "the trial's primary endpoint occurred: 0 no, 1 yes",
    "ENDPOINT_D": "date of the primary endpoint or of censoring for it",
}

STUDY = TableSpec(
    name="tblSTUDY",
    required=False,
    unique=["PATIENT"],
    unique_rule="IR-STUDY-2",
    date_columns=("FU_END_D", "ENDPOINT_D"),
    cross_table=("RC001",),
    schema=pa.DataFrameSchema(
        {
            "PATIENT": _col("id", description=STUDY_COLUMNS["PATIENT"], required=True,
                            nullable=False, missing_rule="IR-STUDY-1"),
            "ARM": _col("text", description=STUDY_COLUMNS["ARM"]),
            "FU_END_D": _col("date", description=STUDY_COLUMNS["FU_END_D"]),
            "ENDPOINT_Y": _col("code", description=STUDY_COLUMNS["ENDPOINT_Y"],
                               checks=[_isin(YES_NO, "IR-STUDY-3")]),
            "ENDPOINT_D": _col("date", description=STUDY_COLUMNS["ENDPOINT_D"]),
        },
        strict=False,
    ),
)

#: Every table the loader reads, in loading order.
TABLES: dict[str, TableSpec] = {
    spec.name: spec for spec in (BAS, ART, MED, LAB_CD4, LAB_RNA, DIS, CEP, LTFU, STUDY)
}


def empty_table(spec: TableSpec) -> pd.DataFrame:
    """An empty frame with the spec's columns and dtypes (for a table a cohort lacks)."""
    return pd.DataFrame(
        {name: pd.Series(dtype=str(col.dtype)) for name, col in spec.columns.items()}
    )
