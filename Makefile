# Set-up and everyday commands. Everything installs into ./.venv so a fresh clone needs only python3.11.
#   make demo   install, then run the main job (benchmark the bundled models on a demo task suite)
#   make test   install everything the tests need, then run them
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
# The CPU wheel of torch lies on disk on the project's machines; pinning it first keeps pip from ever
# resolving an unpinned torch to a multi-GB CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: install install-eval test demo lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)

install: $(PY)
	$(PIP) install "$(TORCH)"
	$(PIP) install -e ".[dev,resample]"

# heareval 2021.1.3 and hearvalidator 2021.0.6 declare Python < 3.9: install them without their
# metadata's pins, then their real runtime dependencies (the [eval] extra) and tensorflow-cpu, which
# their embedding runner and the validator import at module level.
install-eval: install
	$(PIP) install --no-deps --ignore-requires-python heareval==2021.1.3 hearvalidator==2021.0.6
	$(PIP) install -e ".[eval]" tensorflow-cpu

test: install-eval
	$(PY) -m pytest -q tests

lint: install
	$(PY) -m ruff check hear_ssl evaluation tests benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info runs logs lightning_logs
