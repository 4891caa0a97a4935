# Two commands from a fresh clone: `make demo` and `make test`. Each sets itself up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint bench notebook clean

setup: $(STAMP)

# Reinstall only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,scale,notebook]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m research.demo

# vectorbt, for the ma_cross cross-check, lives in its own venv (it pins its own pandas);
# when it cannot be installed the test is skipped and says why.
VBT_STAMP := .venv-vbt/.installed
$(VBT_STAMP):
	-@test -x .venv-vbt/bin/python || $(PYTHON) -m venv .venv-vbt
	-@.venv-vbt/bin/python -m pip install --quiet vectorbt && touch $(VBT_STAMP) || echo "vectorbt could not be installed: its cross-check will be skipped"

# the paper-trading metrics test scrapes a real Prometheus server: install Debian's package when missing
test: $(STAMP) $(VBT_STAMP)
	@bash .ci/install-prometheus.sh
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

# every benchmark (a failing one is named, the others still run), then one summary table into the README
bench: $(STAMP) $(VBT_STAMP)
	@failed=""; \
	for b in benchmarks/bench_*.py; do \
		echo "== $$b"; $(BIN)/python $$b || failed="$$failed $$b"; \
	done; \
	echo "== summary"; $(BIN)/python benchmarks/summary.py --readme README.md || failed="$$failed benchmarks/summary.py"; \
	if [ -n "$$failed" ]; then echo "failed:$$failed"; exit 1; fi

# JupyterLab on notebooks/ with the project's venv as the kernel
notebook: $(STAMP)
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
