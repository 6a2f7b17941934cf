# portalnews — `make demo` and `make test` are all a fresh machine needs.
# Everything is installed into a project virtual environment (.venv), never into the
# interpreter's own site-packages. PYTHON chooses the interpreter that creates it
# (any Python >= 3.11, Debian's /usr/bin/python3 included).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck imports unit bench bench-scale clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
	  { echo "portalnews needs Python >= 3.11; $(PYTHON) is $$($(PYTHON) --version 2>&1 || echo missing): set PYTHON=/path/to/python3.11" >&2; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || \
	  { echo "$(PYTHON) cannot create a virtual environment: install python3-venv (Debian/Ubuntu: apt-get install python3-venv)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m crawler.cli demo

lint: $(STAMP)
	$(PY) -m ruff check crawler pipelines tests scripts

typecheck: $(STAMP)
	$(PY) -m mypy crawler pipelines

imports: $(STAMP)
	$(VENV)/bin/lint-imports

unit: $(STAMP)
	$(PY) -m pytest -q

test: lint typecheck imports unit

bench: $(STAMP)
	$(PY) scripts/bench.py
	$(PY) scripts/bench_engine.py

# A thousand portals in one crawl (scripts/bench_scale.py): 250, 500 and 1,000 portals with the
# default politeness, a tracemalloc comparison (25 and 50 portals: tracing slows the crawl about ten
# times) and two schedule workers.  Long (tens of minutes):
# not part of `make test` nor .ci/run.
bench-scale: $(STAMP)
	$(PY) scripts/bench_scale.py --sizes 250,500,1000 --trace 25,50 --schedule 1000

clean:
	rm -rf data build *.egg-info .mypy_cache .ruff_cache .pytest_cache $(VENV)
