# Two commands do all the set-up on a fresh machine:
#   make demo   - the main job on the bundled sample_logs/ (writes plan.duckdb and report.html)
#   make test   - the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PLAN := $(VENV)/bin/plan
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,embedded]'
	touch $@

install: $(VENV)/.installed

demo: install
	rm -f plan.duckdb
	$(PLAN) ingest sample_logs/
	$(PLAN) status

test: install
	$(PY) -m pytest -q

.PHONY: install demo test
