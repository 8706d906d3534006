# Heitu: `make demo` and `make test` do all the set-up on a fresh machine (Python 3.11, root, apt).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export HEITU_HOME ?= $(CURDIR)/data
# Debian packages the suite needs: PostGIS for the store at scale, zbar to decode our QR codes,
# Chromium and CJK fonts for the browser tests of the consumer page (the fonts for the label sheets
# too), wrk for the web benchmark, Graphviz for the lineage graphs of the bureau portal, poppler
# (pdftoppm, pdftotext) and librsvg (rsvg-convert) to print label sheets and SVG codes in tests.
APT_PACKAGES := postgresql-15-postgis-3 libzbar0 chromium fonts-noto-cjk wrk graphviz poppler-utils librsvg2-bin

.PHONY: install apt test demo airflow airflow-celery serve bench lint lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Installs every pinned dependency (requirements.txt, resolved set in requirements.lock) and heitu.
# heitu is installed editable in setuptools' "compat" mode: a plain path in a .pth file, where
# the default mode imports a finder module at every interpreter start (~14 ms of each command).
$(VENV)/.installed: requirements.txt requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt -c requirements.lock
	$(BIN)/pip install -q --no-deps -e . --config-settings editable_mode=compat
	touch $@

install: $(VENV)/.installed

# axe-core (package.json, pinned in package-lock.json) for the accessibility checks of the
# browser test. `npm ci` installs exactly the lock and empties node_modules first, so it runs
# only when the lock or package.json changed or node_modules was removed; the stamp is written
# after it succeeds.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# Debian packages, installed only when missing so a warm machine pays nothing.
apt:
	@missing=""; for p in $(APT_PACKAGES); do [ "$$(dpkg-query -W -f='$${Status}' $$p 2>/dev/null)" = "install ok installed" ] || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install:$$missing" >&2; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# ruff first (seconds), then the suite: `make test` (what .ci/run calls) fails on a lint error or
# an unformatted file as it fails on a test.
test: lint apt node_modules/.installed
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

LINTED := traceability geo landing dags tests bench
lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

# Regenerate the lock from the environment that requirements.txt resolves to.
lock: | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip freeze --exclude-editable | grep -v '^heitu' > requirements.lock

demo: install
	$(BIN)/python -m traceability.demo

airflow: install
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m traceability.demo --airflow

# Heitu at scale for a look (docs/scale.md): CeleryExecutor with Redis, metadata and store on the
# local PostgreSQL, a sample season loaded, UI on http://127.0.0.1:8080; Ctrl-C stops it and
# drops its databases.
airflow-celery: install
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m tests.airflow_services

# The consumer page and resolver (traceability/web/) on the demo's store, which `make demo`
# fills; on every interface, so a phone on the same network can scan a code and open the page at
# http://<this host>:8000/.
serve: install
	HEITU_DB_URL=sqlite:///$(HEITU_HOME)/heitu.db $(BIN)/heitu serve --host 0.0.0.0 --port 8000

# docs/benchmarks.md: ingest of the 20,000-plot sample season into SQLite and PostgreSQL (against
# a bare executemany / COPY and the store floor, ~25 min with the EPCIS export), then lineage on
# a synthetic 200,000-plot season in SQLite and PostgreSQL (first run ~6 min to generate
# bench/out/, cached after; ~6 min more to copy it into PostgreSQL), the geo part, the web page
# and the bureau API under wrk. `python -m bench --help` for sizes and parts.
bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) data node_modules
