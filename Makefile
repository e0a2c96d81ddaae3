# wsvad: `make demo` and `make test` each create or refresh .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench venv clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/wsvad demo --out runs/demo

# two pytest-xdist workers, one torch thread each (tests/conftest.py): 2 cores, busy together
test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 --dist loadfile

# The report test renders the HTML in headless Chromium; install it where we can (Debian, as
# root), otherwise that test is skipped with a reason.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && \
	      apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1; }; } \
	  && echo "installed chromium for the report test"; } || \
	echo "chromium not available: the report rendering test will be skipped"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/train_throughput.py --out benchmarks/results
	$(BIN)/python benchmarks/extract_throughput.py --out benchmarks/results
	$(BIN)/python benchmarks/iteration_drift.py --out benchmarks/results --methods mil
	$(BIN)/python benchmarks/tube_throughput.py --out benchmarks/results

clean:
	rm -rf runs .pytest_cache
