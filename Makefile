# Masquerade — one entry point for install, run, test and bench.
# `make install` is idempotent: it only reinstalls when requirements.txt or pyproject.toml change.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SAMPLE := resources/samples/opera_sample.png
PKG_STAMP := $(VENV)/.packaging-installed

.PHONY: install run test lint bench bench-gpu clean package package-test

install: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: install
	$(PY) -m app --open $(SAMPLE) --studio opera

# Guard rails: import contracts (layers, independence, no Qt in engine), ruff, mypy, doctests.
lint: install
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check app engine bench tests packaging
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -p no:cacheprovider --doctest-modules engine

test: lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -n 2 --dist loadfile

bench: install
	$(PY) -m bench --out bench/results.json

# Learned models on a CUDA GPU (training steps/s, images/s, memory, inference); one line and exit 0 without CUDA.
bench-gpu: install
	$(PY) -m bench.gpu --out bench/results-gpu.json

clean:
	rm -rf $(VENV) build *.egg-info

# Frozen one-folder desktop build (PyInstaller, see packaging/README.md): dist/masquerade/masquerade.
# PyInstaller comes from requirements-packaging.txt, installed here only (not by `make install`).
$(PKG_STAMP): $(STAMP) requirements-packaging.txt
	$(PY) -m pip install --quiet -r requirements-packaging.txt
	touch $(PKG_STAMP)

package: install $(PKG_STAMP)
	$(VENV)/bin/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller packaging/masquerade.spec
	@du -sh dist/masquerade

# Runs the frozen executable headless: GUI screenshot, lineart, analyze (MediaPipe), weights list/verify.
package-test: install
	QT_QPA_PLATFORM=offscreen $(PY) packaging/smoke_test.py dist/masquerade/masquerade
