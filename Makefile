# Quick start: `make demo` (TUI on a local sandbox cluster), `make test` (whole suite).
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint types pytest bench image clean

install:
	@VENV=$(VENV) scripts/bootstrap.sh

demo: install
	$(BIN)/kubeha-tui --sandbox

test: install lint types pytest

lint:
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

types:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest

bench: install
	@for b in bench/bench_*.py; do m=$$(basename $$b .py); $(BIN)/python -m bench.$$m || true; done

# The node image: dist/kubeha-tui-<version>.docker.tar.gz (root: mmdebstrap, chroot).
image: install
	PYTHON=$(BIN)/python scripts/build-image.sh dist

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
