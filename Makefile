# immune-recovery: every report rebuilt from data by one command, every test by another.
#
#   make reports   set up .venv, fetch and convert the data, rebuild stale reports
#   make test      unit tests, then nbval regression of the committed executed notebooks
#
# A report is rebuilt when the content of its notebook, its parameter file, the package
# source, its input data or an upstream report changed (content hashes, not file times; see
# src/immune_recovery/reporting/stale.py). Each report is built in build/staging and moved
# into reports/ only when it succeeded (see src/immune_recovery/reporting/build.py).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:
MAKEFLAGS += --no-builtin-rules
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
BROWSER_STAMP := $(VENV)/.browser
R_STAMP := $(VENV)/.r
KERNEL := immune-recovery
SRC_STAMP := build/src.stamp
SRC_FILES := $(shell find src -type f \( -name '*.py' -o -name '*.typed' \) 2>/dev/null)

# Deterministic kernels and tools (the report build sets the same for papermill kernels).
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg
export TZ := UTC
export SM_FORMULA_ENGINE := patsy
export PANDERA_VALIDATION_ENABLED := True
export PANDERA_VALIDATION_DEPTH := SCHEMA_AND_DATA
export DISABLE_PANDERA_IMPORT_WARNING := True
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export OMP_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

DATASETS := $(shell tail -n +2 data/manifest | cut -d, -f1) synthetic messy
DATA_STAMPS := $(DATASETS:%=data/hicdep/%/.stamp)

PARAMS := $(sort $(wildcard params/*.yaml))
COVERAGE_PARAMS := params/simulation-coverage.yaml
COVERAGE_PRODUCT := data/derived/coverage
COVERAGE_WORKERS ?= 2
CONSORTIUM_PRODUCT := data/derived/consortium
POOLING_PARAMS := params/simulation-pooling.yaml
POOLING_PRODUCT := data/derived/pooling
REPORT_JSONS = $(REPORT_IDS:%=reports/%/report.json)
SITE := reports/manifest.json reports/index.html

## help: list the targets
.PHONY: help
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST) | column -t -s ':'

## venv: create .venv from requirements.lock and register the Jupyter kernel inside it
.PHONY: venv
venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.lock pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 not found: set PYTHON=/path/to/python3.11"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python 3 ($(KERNEL))" >/dev/null
	touch $@

$(SRC_STAMP): $(SRC_FILES) pyproject.toml
	@mkdir -p $(@D)
	touch $@

## data: fetch the public trial data (verified by sha256) and convert them to HICDEP
.PHONY: data
data: $(DATA_STAMPS)

# The converter rewrites a data set (and its .stamp) only when a table's content changed.
# When nothing changed, the stamp takes the time of its newest prerequisite: up to date for
# Make, yet still older than the reports built from it.
data/hicdep/%/.stamp: data/manifest $(SRC_STAMP) | $(VENV_STAMP)
	$(PY) -m immune_recovery data --dataset $*
	newest=$$(ls -t $^ | sed -n 1p); if [ $@ -ot "$$newest" ]; then touch -r "$$newest" $@; fi

# ---------------------------------------------------------------------------------------
# Reports. Staleness is decided by content, not by file times: build/reports.mk (one rule
# per params/<report-id>.yaml, read as YAML) and build/keys/<id>.key are written by
# immune_recovery.reporting.stale before Make decides anything. A report's key is the sha256
# of its notebook, parameter file, data inputs, the package source and its upstream reports'
# keys; report.json records the key it was built with. A current report's key file is dated
# 1970-01-01, a stale one's now, so Make rebuilds exactly the stale reports (a fresh clone
# with current reports rebuilds nothing). Upstream reports are order-only prerequisites.
# ---------------------------------------------------------------------------------------
REPORT_GOALS := $(filter reports report-% reports/% test-browser screenshots,$(MAKECMDGOALS))
ifneq ($(REPORT_GOALS),)
include build/reports.mk
endif

build/reports.mk: FORCE | $(VENV_STAMP) $(BROWSER_STAMP) $(DATA_STAMPS) $(COVERAGE_PRODUCT) $(CONSORTIUM_PRODUCT) $(POOLING_PRODUCT)
	@mkdir -p $(@D)
	$(PY) -m immune_recovery.reporting.stale

.PHONY: FORCE
FORCE:

## coverage-product: the coverage study's replicates (data/derived/coverage), rebuilt only when the package source or its parameter file changed
.PHONY: coverage-product
coverage-product: $(COVERAGE_PRODUCT)

# The command decides (--if-stale: a key of the settings and the package source) whether
# anything is rerun; Make asks every time, before the staleness check reads the product.
$(COVERAGE_PRODUCT): FORCE | $(VENV_STAMP)
	$(PY) -m immune_recovery coverage --params $(COVERAGE_PARAMS) --workers $(COVERAGE_WORKERS) --if-stale

## consortium-product: the demonstration consortium's site bundles (data/derived/consortium), rebuilt only when the package source changed
.PHONY: consortium-product
consortium-product: $(CONSORTIUM_PRODUCT)

$(CONSORTIUM_PRODUCT): FORCE | $(VENV_STAMP)
	$(PY) -m immune_recovery simulate-consortium --out $(CONSORTIUM_PRODUCT) --if-stale

## pooling-product: the pooling benchmark's replicate consortia (data/derived/pooling), rebuilt only when the package source or its parameter file changed
.PHONY: pooling-product
pooling-product: $(POOLING_PRODUCT)

$(POOLING_PRODUCT): FORCE | $(VENV_STAMP)
	$(PY) -m immune_recovery pooling-benchmark --params $(POOLING_PARAMS) --workers $(COVERAGE_WORKERS) --if-stale

## reports: rebuild every stale report, then reports/manifest.json and reports/index.html
.PHONY: reports
reports: $(SITE)

# The site is rewritten only where its content changed; the touch tells Make it is current.
$(SITE) &: $(REPORT_JSONS) | $(VENV_STAMP)
	$(PY) -m immune_recovery.reporting.site
	touch $(SITE)

## report-<id>: rebuild one report (ids: the file names in params/)

## cohort-report: your cohort as a site: make cohort-report COHORT=dir NAME=name [OUT=dir CLOSE_DATE=YYYY-MM-DD JOBS=2]
.PHONY: cohort-report
cohort-report: $(VENV_STAMP)
	@test -n "$(COHORT)" -a -n "$(NAME)" || { echo "usage: make cohort-report COHORT=path/to/hicdep-folder NAME=short-name [OUT=dir] [CLOSE_DATE=YYYY-MM-DD] [JOBS=2]"; exit 2; }
	$(PY) -m immune_recovery report "$(COHORT)" --name "$(NAME)" $(if $(OUT),--out "$(OUT)") $(if $(CLOSE_DATE),--close-date $(CLOSE_DATE)) --jobs $(or $(JOBS),2)

## test: unit tests, then nbval on the committed executed notebooks (outputs go to build/nbval), each on TEST_WORKERS processes
TEST_WORKERS ?= 2
.PHONY: test
test: $(VENV_STAMP) $(BROWSER_STAMP) $(R_STAMP) data
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile tests
	IMMUNE_RECOVERY_REPORTS_DIR=$(CURDIR)/build/nbval $(PY) -m pytest -p no:cacheprovider \
	  -p tests.nbval_kernel_retry -n $(TEST_WORKERS) --dist loadfile \
	  --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
	  --nbval-cell-timeout=900 reports/*/*.ipynb

## test-browser: open the index and every report in Chromium (Playwright); screenshots in docs/
.PHONY: test-browser
test-browser: $(BROWSER_STAMP) $(SITE)
	$(PY) -m pytest -p no:cacheprovider tests/browser

# Debian's Chromium for the browser test and the reports' PDFs (Playwright drives it; no
# browser download), and poppler-utils, whose pdftotext reads the PDFs back (output checker,
# browser test).
$(BROWSER_STAMP): | $(VENV_STAMP)
	@{ command -v chromium && command -v pdftotext; } >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends chromium poppler-utils; }
	chromium --version
	pdftotext -v 2>&1 | sed -n 1p
	touch $@

# Debian's R with metafor (and lme4 for its GLMM): tests/test_metafor.py runs metafor itself;
# survival for tests/test_competing.py (the Aalen-Johansen estimator against survfit).
R_PACKAGES := r-base-core r-cran-metafor r-cran-metadat r-cran-lme4 r-cran-survival
$(R_STAMP): | $(VENV_STAMP)
	@Rscript -e 'library(metafor); library(metadat); library(lme4); library(survival)' >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends $(R_PACKAGES); }
	Rscript -e 'cat("metafor", as.character(packageVersion("metafor")), "\n")'
	touch $@

## screenshots: refresh the README's screenshots (docs/screenshots/) from the browser test
.PHONY: screenshots
screenshots: $(BROWSER_STAMP)
	SCREENSHOT_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest -p no:cacheprovider \
	  tests/browser -k screenshots

## word-screenshot: page 1 of a report's Word file as LibreOffice renders it (needs soffice) -> docs/screenshots/frequency-word.png
.PHONY: word-screenshot
word-screenshot: $(BROWSER_STAMP)
	mkdir -p build/word
	soffice --headless --convert-to pdf --outdir build/word \
	  reports/frequency-synthetic/frequency-synthetic.docx >/dev/null
	pdftoppm -r 80 -png -f 1 -singlefile build/word/frequency-synthetic.pdf \
	  docs/screenshots/frequency-word

## bench: classifier against a polars reference at 10k/100k/1M patients -> benchmarks/results.*; the trajectory mixed model against statsmodels -> benchmarks/mixedlm.csv; the own-cohort suite per report and step at 30k/100k/300k (BENCH_1M=1 adds 1M) -> benchmarks/cohort_report*
.PHONY: bench
BENCH_SIZES := 30000 100000 300000 $(if $(BENCH_1M),1000000)
bench: $(VENV)/.bench
	$(PY) benchmarks/classify.py 10000 100000 1000000
	$(PY) benchmarks/mixedlm.py 600 3000
	$(PY) benchmarks/cohort_report.py $(BENCH_SIZES)

# The benchmark-only packages (pyproject's "bench" extra).
$(VENV)/.bench: pyproject.toml | $(VENV_STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	touch $@

## lab: JupyterLab on the project's kernel
.PHONY: lab
lab: $(VENV_STAMP) data
	$(VENV)/bin/jupyter lab --notebook-dir=.

## lock: regenerate requirements.lock from pyproject.toml in a scratch environment
.PHONY: lock
lock:
	rm -rf build/lockvenv
	$(PYTHON) -m venv build/lockvenv
	build/lockvenv/bin/pip install --quiet -e ".[test]"
	{ echo "# Full pinned environment (pip freeze of 'pip install -e .[test]' on Python 3.11)."; \
	  echo "# Regenerate with: make lock"; \
	  build/lockvenv/bin/pip freeze --exclude-editable | grep -v '^-e'; } > requirements.lock
	rm -rf build/lockvenv

## clean: remove derived files (build/, data/hicdep/); keeps .venv, data/raw and reports/
.PHONY: clean
clean:
	rm -rf build data/hicdep

## distclean: clean, and remove .venv and the fetched raw data
.PHONY: distclean
distclean: clean
	rm -rf $(VENV) data/raw
