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
# their embedding runner and the validator import at module level. [cluster] (Ray) is for the
# `evaluate --cluster ray` test.
install-eval: install
	$(PIP) install --no-deps --ignore-requires-python heareval==2021.1.3 hearvalidator==2021.0.6
	$(PIP) install -e ".[eval,cluster]" tensorflow-cpu faiss-cpu

test: install-eval
	$(PY) -m pytest -q --slow tests

# The main job: evaluate every model that has weights here (bundled defaults in weights/, plus the
# official BYOL-A d512 checkpoint when DEMO_WEIGHTS points at it) on a HEAR task suite (default grid, fast backend),
# then print the table (report in $(DEMO_RUN)/report/). Tasks: DEMO_TASKS (default ../shared/hear-tasks
# when present) or a suite built from DEMO_AUDIO (one sub-folder of audio files per class).
# DEMO_SELECT picks tasks by folder-name patterns: on the shared suite it keeps the four scene tasks
# (about 13 min for three models on 2 cores); its event task office_events alone takes ~25 min per
# model there with the default grid (DEMO_SELECT='*' runs it too). Interrupted? Run it again: it resumes.
DEMO_TASKS   ?= $(wildcard ../shared/hear-tasks)
DEMO_AUDIO   ?=
DEMO_WEIGHTS ?= $(wildcard ../shared/reference/AudioNTT2020-BYOLA-64x96d512.pth)
SHARED_SCENE_TASKS := drum_strokes*,fsdd_digits*,gm_pitch*,speech_commands_12*
DEMO_SELECT  ?= $(if $(DEMO_AUDIO),,$(if $(filter ../shared/hear-tasks,$(DEMO_TASKS)),$(SHARED_SCENE_TASKS)))
DEMO_GRID    ?= default
DEMO_BACKEND ?= fast
DEMO_JOBS    ?= 2
DEMO_RUN     ?= demo/run
demo: install-eval
	$(PY) -m hear_ssl.evaluation.demo --run-dir "$(DEMO_RUN)" --grid "$(DEMO_GRID)" --backend "$(DEMO_BACKEND)" \
		--jobs "$(DEMO_JOBS)" $(if $(DEMO_TASKS),--tasks-dir "$(DEMO_TASKS)") $(if $(DEMO_AUDIO),--audio "$(DEMO_AUDIO)") \
		$(if $(DEMO_SELECT),--tasks "$(DEMO_SELECT)") $(if $(DEMO_WEIGHTS),--reference-weights "$(DEMO_WEIGHTS)")

lint: install
	$(PY) -m ruff check hear_ssl evaluation tests benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info runs logs lightning_logs
