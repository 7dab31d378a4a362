# durably: `make demo` runs the sample app, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS ?= dev,postgres,http

.PHONY: help venv demo test lint unit bench bench-dashboard bench-entities bench-forms bench-tracing bench-peers chaos overload golden clean

help:
	@echo "make demo | test | lint | bench | bench-dashboard | bench-entities | bench-forms | bench-tracing | bench-peers | chaos | overload | golden | clean"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/durably demo --store sqlite:///durably.db

# The example apps (and the demo's) the determinism checker reads (docs/determinism.md).
EXAMPLE_APPS := examples.async_http_api:app examples.entities_bank:app examples.eternal:app examples.fan_out_fan_in:app \
	examples.fastapi_progress:app \
	examples.function_chaining:app examples.human_interaction:app examples.monitor:app \
	examples.retries_and_errors:app examples.sub_orchestrations:app durably.demo:app

lint: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/ruff format --check src tests examples benchmarks
	$(BIN)/mypy
	$(BIN)/durably check $(EXAMPLE_APPS)

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint unit

# BENCH_ARGS passes runner options, e.g. make bench BENCH_ARGS="--runs 3 --only chain,hello5".
# PostgreSQL joins when DURABLY_TEST_POSTGRES is set; DBOS's venv is made on demand.
# The benchmarks, then the same workloads with async def orchestrators beside generator
# ones, and with OpenTelemetry tracing exporting beside none.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)
	$(MAKE) --no-print-directory bench-forms BENCH_ARGS=
	$(MAKE) --no-print-directory bench-tracing BENCH_ARGS=
	$(MAKE) --no-print-directory bench-entities BENCH_ARGS=

# The dashboard and API with 100,000 instances: page times to benchmarks/results/.
bench-dashboard: $(STAMP)
	$(BIN)/python -m benchmarks.dashboard $(BENCH_ARGS)

# Generator orchestrators against async def ones doing the same, interleaved on SQLite.
bench-forms: $(STAMP)
	$(BIN)/python -m benchmarks.ab --base-tree . --new-env DURABLY_BENCH_FORM=async \
		--only latency,chain,chain-inflight,hello5 --rounds 3 --store sqlite \
		--out benchmarks/results/forms $(BENCH_ARGS)

# Entity operations per second against orchestrations doing the same counting by
# read-modify-writes of a row: benchmarks/results/entities.md.
bench-entities: $(STAMP)
	$(BIN)/python -m benchmarks.entities $(BENCH_ARGS)

# No tracer provider against an SDK provider exporting every span, the same dropping
# every span unencoded, one sampling a trace in ten, and one sampling none, interleaved
# on SQLite (docs/observability.md).
bench-tracing: $(STAMP)
	$(BIN)/python -m benchmarks.ab --base-tree . --new-env DURABLY_BENCH_TRACING=export \
		--only latency,chain,hello5 --rounds 3 --store sqlite \
		--out benchmarks/results/tracing $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.ab --base-tree . --new-env DURABLY_BENCH_TRACING=drop \
		--only latency,chain,hello5 --rounds 3 --store sqlite \
		--out benchmarks/results/tracing-drop $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.ab --base-tree . --new-env DURABLY_BENCH_TRACING=sampled \
		--only latency,chain,hello5 --rounds 3 --store sqlite \
		--out benchmarks/results/tracing-sampled $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.ab --base-tree . --new-env DURABLY_BENCH_TRACING=unsampled \
		--only latency,chain,hello5 --rounds 3 --store sqlite \
		--out benchmarks/results/tracing-unsampled $(BENCH_ARGS)

bench-peers: $(STAMP)
	$(BIN)/python -m benchmarks.run --peers $(BENCH_ARGS)

# The long chaos suite (docs/testing.md): worker processes killed, paused and replaced,
# connections cut and the PostgreSQL server restarted (needs DURABLY_TEST_POSTGRES and
# pg_ctlcluster, as root), an oracle checking every instance. The report is appended to
# benchmarks/results/chaos.md. CHAOS_ARGS resizes it: make chaos CHAOS_ARGS="--instances 500 --faults 50".
CHAOS_ARGS ?= --instances 10000 --faults 1000 --interval 0.2
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos --store sqlite --store postgres --restarts $(CHAOS_ARGS) --out benchmarks/results/chaos.md

# 100,000 instances started in a burst by 4 client threads while 2 worker processes drain
# them: worker RSS and the store's backlog sampled once a second, every instance checked
# (docs/performance.md, "Overload"). PostgreSQL only when DURABLY_TEST_POSTGRES is set.
overload: $(STAMP)
	$(BIN)/python -m benchmarks.overload --store sqlite --store postgres --instances 100000 --out benchmarks/results/overload.md

# Record the examples' golden histories again (tests/golden/histories/, replayed by make test):
# only after a change that running instances could not survive, on purpose.
golden: $(STAMP)
	$(BIN)/python -m tests.golden.record

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache durably.db durably.db-*
