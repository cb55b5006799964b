"""The command line: exit status 2 and one line for bad input, no traceback."""

from __future__ import annotations

import subprocess
import sys

from immune_recovery.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "immune_recovery", *args],
                          capture_output=True, text=True, check=False)


def test_validate_good_folder(small_cohort_dir, capsys):
    assert main(["validate", str(small_cohort_dir)]) == 0
    out = capsys.readouterr().out
    assert "4 patients" in out
    assert "tblLAB_CD4.csv: 9 rows read = 9 used + 0 excluded" in out


def test_validate_malformed_value_exits_2_with_one_line(small_cohort_dir):
    path = small_cohort_dir / "tblLAB_CD4.csv"
    lines = path.read_text().splitlines()
    lines[3] = "P1,2000-07-01,abc,1"
    path.write_text("\n".join(lines) + "\n")
    result = run_cli("validate", str(small_cohort_dir))
    assert result.returncode == 2
    assert result.stdout == ""
    err = result.stderr.strip()
    assert "\n" not in err and "Traceback" not in err
    assert "tblLAB_CD4.csv" in err and "row 3 (line 4)" in err and "column CD4_V" in err
    assert "'abc'" in err


def test_validate_missing_folder_exits_2(tmp_path):
    result = run_cli("validate", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "no such folder" in result.stderr and "Traceback" not in result.stderr


def test_validate_reports_exclusions_and_strict_mode(small_cohort_dir, tmp_path, capsys):
    path = small_cohort_dir / "tblLAB_CD4.csv"
    path.write_text(path.read_text() + "P1,2000-08-01,9000,1\n")
    ledger = tmp_path / "ledger.csv"
    assert main(["validate", str(small_cohort_dir), "--ledger", str(ledger)]) == 0
    out = capsys.readouterr().out
    assert "10 rows read = 9 used + 1 excluded" in out and "CW001" in out
    assert "CW001" in ledger.read_text()
    assert main(["validate", str(small_cohort_dir), "--strict"]) == 1
