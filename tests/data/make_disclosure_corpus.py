"""Write tests/data/disclosure/: small cohorts built to leak through a published site.

Each case is a seeded simulated cohort (the package's simulator) changed so that a careless
site would reveal a small count; ``cases.yaml`` says what each one attacks. The site tests
(``tests/test_disclosure_site.py``) build a site of each and make the attacks a reader could
make (count x proportion, total minus the other cells, curve steps, at-risk rows).
Rerun after changing a case: ``.venv/bin/python tests/data/make_disclosure_corpus.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import yaml

from immune_recovery.simulate import write_simulated_cohort

HERE = Path(__file__).parent
OUT = HERE / "disclosure"
TABLES = ("tblBAS", "tblLAB_CD4", "tblLAB_RNA", "tblLTFU", "tblDIS", "tblART")

CASES = {
    "site40": {
        "patients": 40, "seed": 21,
        "attacks": "a whole site of 40 patients: few non-responders, deaths and events; "
                   "late-response risk sets of a handful; Kaplan-Meier numbers at risk"},
    "strata": {
        "patients": 400, "seed": 22,
        "attacks": "one patient of unknown sex (SEX 9): a stratum of 1 and Table 1 bands that sum to the total minus 1; "
                   "count x proportion in the frequency table"},
}


def _strata(folder: Path) -> None:
    bas = pd.read_csv(folder / "tblBAS.csv", dtype=str)
    bas.loc[bas.index[7], "SEX"] = "9"
    bas.to_csv(folder / "tblBAS.csv", index=False)


CHANGES = {"strata": _strata}


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    for name, case in CASES.items():
        scratch = OUT / f".{name}-full"
        write_simulated_cohort(scratch, case["patients"], case["seed"])
        folder = OUT / name
        folder.mkdir()
        for table in TABLES:  # the tables a cohort sends (no truth files)
            if (scratch / f"{table}.csv").is_file():
                shutil.copy(scratch / f"{table}.csv", folder / f"{table}.csv")
        shutil.rmtree(scratch)
        CHANGES.get(name, lambda f: None)(folder)
    (OUT / "cases.yaml").write_text(yaml.safe_dump(
        {n: {"attacks": c["attacks"], "patients": c["patients"], "seed": c["seed"]}
         for n, c in CASES.items()}, sort_keys=False))
    print(f"{OUT}: {', '.join(CASES)}")


if __name__ == "__main__":
    main()
