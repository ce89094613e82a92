# voicemon: the two set-up commands (see README.md) and a few helpers.
#   make demo   create .venv, install voicemon, analyse the bundled escalating call
#   make test   create .venv, install voicemon + test tools, lint (ruff, mypy), run the whole test suite
#   make lint   ruff check and mypy only
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba

.PHONY: demo test lint bench fixtures clean sysdeps

# Debian packages the tests use: chromium (the browser test), ffmpeg (mp3/m4a decoding),
# espeak-ng and sox (the PII and Whisper-loop tests render their calls at test time), redis-server
# (the multi-server live feed test starts a real one).
# Installed when running as root on Debian/Ubuntu; otherwise the tests that need them skip
# with a reason.
SYSDEPS := chromium ffmpeg espeak-ng sox redis-server

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,ray,redis]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/voicemon analyze audio_fixtures/escalating_call_stereo.wav --out voicemon-reports --progress

sysdeps:
	@missing=""; for p in $(SYSDEPS); do command -v $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing (apt-get)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends$$missing >/dev/null) \
	      || echo "warning: could not install$$missing; the tests that need them will skip"; \
	  else echo "note: missing$$missing (not root / no apt-get); the tests that need them will skip"; fi; \
	fi

# lint and type-check first (seconds), then the suite
test: $(VENV)/.installed sysdeps lint
	$(PY) -m pytest -q -ra

lint: $(VENV)/.installed
	$(PY) -m ruff check voicemon tests benchmarks audio_fixtures
	$(PY) -m mypy

bench: $(VENV)/.installed
	$(PY) benchmarks/offline_speed.py

fixtures: $(VENV)/.installed
	$(PY) audio_fixtures/make_fixtures.py

clean:
	rm -rf $(VENV) .cache voicemon-reports .pytest_cache
