# portalnews — `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
STAMP := .make-installed

.PHONY: install demo test lint typecheck unit bench engine-test clean

$(STAMP): pyproject.toml
	$(PIP) install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PYTHON) -m crawler.cli demo

lint: $(STAMP)
	$(PYTHON) -m ruff check crawler pipelines tests scripts

typecheck: $(STAMP)
	$(PYTHON) -m mypy crawler pipelines

unit: $(STAMP)
	$(PYTHON) -m pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(PYTHON) scripts/bench.py
	$(PYTHON) scripts/bench_engine.py

clean:
	rm -rf data build *.egg-info .mypy_cache .ruff_cache .pytest_cache $(STAMP)
