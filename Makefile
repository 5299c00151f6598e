# Every target works on a fresh machine that has only python3: the first one run
# creates .venv, installs uv into it and syncs the locked workspace, compiled to bytecode:
# a command then starts in about 0.2 s instead of 0.6 s where Python may not write its
# cache on first use (PYTHONDONTWRITEBYTECODE, a read-only install).
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))

.PHONY: setup run test test-slow bench bench-reporting bench-ledger lint clean

$(UV):
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv

$(VENV)/.synced: $(UV) pyproject.toml uv.lock shared/pyproject.toml $(wildcard services/*/pyproject.toml)
	$(UV) sync --inexact --all-packages --group dev --compile-bytecode
	$(BIN)/python -m compileall -q shared/src $(wildcard services/*/src) > /dev/null
	@touch $@

setup: $(VENV)/.synced

# The demo programme is loaded unless asked not to: make run DEMO=0
run: setup
	$(BIN)/pathways up $(if $(NATS_PORT),--nats-port $(NATS_PORT)) $(if $(filter 0 no false,$(DEMO)),--no-demo,--demo)

# Lint (ruff, 0 findings) and type checking (mypy strict on shared/ and services/) are part
# of the tests: they are fast and catch what a test would only find at run time.
# The suite runs in two worker processes (pytest-xdist), each module whole in one of them
# (--dist loadfile: its module fixtures, such as the three-node cluster, are made once). Each
# worker has a nats-server of its own; most tests wait on servers and child processes, so two
# workers on two cores take half the time of one (333 s against 681 s). The modules that start
# `pathways up` run after, one at a time: `up` asks for its usual ports (4222, 8101-8106),
# and two at once on two workers took each other's (the supervision test expects a killed
# process back on the port it had).
UP_TESTS := tests/test_bench_tiny.py tests/test_cli_startup.py tests/test_cli_up.py tests/test_nats_permissions.py \
            tests/test_org_cli.py tests/test_supervision.py tests/test_up_cluster.py
test: setup
	$(BIN)/ruff check shared services tests bench
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist loadfile $(addprefix --ignore=,$(UP_TESTS))
	$(BIN)/pytest $(UP_TESTS)

# The longer fault and fuzz runs (marked `slow`), left out of `make test` to keep it short.
test-slow: setup
	$(BIN)/pytest -m slow

bench: setup
	$(BIN)/python bench/run.py

# Only the reporting read model: rebuild from 1 M events and dashboard query latency.
bench-reporting: setup
	$(BIN)/python bench/reporting.py

# Only the audit ledger: verify rate in memory and from a real stream, ledger build.
bench-ledger: setup
	$(BIN)/python bench/ledger.py

lint: setup
	$(BIN)/ruff check shared services tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pathways .pytest_cache .mypy_cache .ruff_cache
