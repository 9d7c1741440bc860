# Every target works on a fresh clone with nothing but python3 and make.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install lint test demo bench clean axe

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,postgres,server,bench]'
	touch $(STAMP)

# axe-core (npm, pinned in tests/package-lock.json) for the WCAG contrast tests in Chromium. Without npm
# the target says so and the tests skip with the reason (in CI they fail: .ci/run installs npm).
AXE := tests/node_modules/axe-core/axe.min.js

axe: $(AXE)

$(AXE): tests/package.json tests/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix tests --no-audit --no-fund --loglevel=error && touch $(AXE); \
	else echo "npm not found: axe-core not installed, the contrast tests will skip (apt-get install npm)"; fi

# ruff (configured in pyproject.toml): the lint, then the format, checked; nothing is rewritten.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint $(STAMP) $(AXE)
	$(PY) -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) scripts/demo.py

# The benchmarks (bench/ses_endpoint.py is the SES stand-in bench/send.py starts, tests/track/sqs_endpoint.py
# the SQS one of bench/events.py, bench/web_load.py the load generator of bench/web.py,
# bench/redirect_load.py that of bench/redirect.py, bench/harness.py and bench/load.py what those
# share; import_stages.py a per-stage breakdown to run by hand).
BENCHES = bench/personalize.py bench/ses_call.py bench/send.py bench/import.py bench/events.py \
	bench/web.py bench/redirect.py

bench: $(STAMP)
	@for b in $(BENCHES); do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) var build dist .pytest_cache tests/node_modules
