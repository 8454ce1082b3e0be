# Two entry points: `make demo` (the main job) and `make test`.
# Both create or reuse .venv at the repository root and install everything needed.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
PY := $(VENV)/bin/python
MAI := $(VENV)/bin/mai
DEMO_OUT ?= demo_out
# pytest-xdist workers for `make test` (0 runs in one process). 3 on the CI machine's 2 cores:
# with 2, a fifth of the CPU stayed idle while tests waited on servers, workers and browsers
# (benchmarks/RESULTS.md, "Test suite time")
TEST_JOBS ?= 3

.PHONY: demo test venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch is pinned first so that no other package pulls a CUDA build of it
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[full,test,server]'
	touch $(STAMP)

demo: $(STAMP)
	$(MAI) demo --out $(DEMO_OUT)

# system packages the tests need (sshd, software Vulkan, chromium): installed when missing, as root with apt
test: $(STAMP)
	bash scripts/system-deps.sh
	$(PY) -m pytest -q -n $(TEST_JOBS) --durations=30 --durations-min=5

clean:
	rm -rf $(DEMO_OUT) .pytest_cache
