# voicemon: the two set-up commands (see README.md) and a few helpers.
#   make demo   create .venv, install voicemon, analyse the bundled escalating call
#   make test   create .venv, install voicemon + test tools, run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba

.PHONY: demo test bench fixtures clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/voicemon analyze audio_fixtures/escalating_call_stereo.wav --out voicemon-reports --progress

test: $(VENV)/.installed
	$(PY) -m pytest -q -ra

bench: $(VENV)/.installed
	$(PY) benchmarks/offline_speed.py

fixtures: $(VENV)/.installed
	$(PY) audio_fixtures/make_fixtures.py

clean:
	rm -rf $(VENV) .cache voicemon-reports .pytest_cache
