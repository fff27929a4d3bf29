# Two commands a newcomer needs: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test faults loadtest install lite-model lite-corpus bench bench-trienc clean

# The dev install carries the optional extras (Ray, Audiobox Aesthetics) so that `make test` runs their real paths.
$(STAMP): requirements.txt requirements-dev.txt requirements-ray.txt requirements-audiobox.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt -r requirements-ray.txt -r requirements-audiobox.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@if [ -f app.py ]; then $(PY) app.py; \
	else $(VENV)/bin/mmmos predict assets/examples/*.wav; fi

test: $(STAMP)
	$(PY) -m pytest -q

# Crashes, full/read-only disks, hostile files, the short load test (docs/reliability.md).
faults: $(STAMP)
	$(PY) -m pytest -q -m faults

# The full load test: VISITORS visitors for SECONDS s against a fresh local app; one JSON line.
VISITORS ?= 20
SECONDS ?= 120
loadtest: $(STAMP)
	$(PY) -m scripts.loadtest --visitors $(VISITORS) --duration $(SECONDS)

lite-model: $(STAMP)
	$(PY) -m scripts.build_lite_model

# The real-audio corpus (issue 11), rebuilt from Debian packages into $$MMMOS_HOME/lite-corpus
# (default ~/.cache/mmmos/lite-corpus); needs apt-get + dpkg (as root) and fluidsynth.
lite-corpus: $(STAMP)
	$(PY) -m scripts.build_lite_corpus

bench: $(STAMP)
	$(VENV)/bin/mmmos bench --json

# Full-size TriEnc, random weights: built in memory, then saved in the published formats
# (about 1.9 GB under build/) and loaded back the way real checkpoints are. The first run
# prints every key (floor, 32-clip corpus single vs batched, memory); the second measures
# the real loading path, so it skips the corpus (--corpus-clips 0) to save ~10 minutes.
# BENCH_TRIENC_ARGS="--device cuda --autocast bf16" runs the same keys on an accelerator.
BENCH_TRIENC_ARGS ?=
bench-trienc: $(STAMP)
	$(VENV)/bin/mmmos bench --json --model trienc-random $(BENCH_TRIENC_ARGS)
	test -f build/trienc-full/mmmos.json || \
	  $(PY) -c "from mmmos_core.model.trienc import build_trienc_dir; build_trienc_dir('build/trienc-full', size='full')"
	$(VENV)/bin/mmmos bench --json --model build/trienc-full --corpus-clips 0 $(BENCH_TRIENC_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
