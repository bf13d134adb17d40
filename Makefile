# The two commands: `make run` (set up, index corpus/, open the chat page) and `make test`.
# Both work on a fresh machine with Python 3.11 and pip; system packages come from apt-get (as root).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-done
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1

.PHONY: setup run test browser bench clean-index

setup: $(STAMP)

# torch first, pinned to the local CPU wheel, so nothing later pulls a CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[test,small]'
	touch $(STAMP)

# Debian's Chromium for the browser tests (never `playwright install`: no downloads here).
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi; }

run: setup
	$(BIN)/rag index corpus/
	$(BIN)/rag serve

test: setup browser
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m bench.run_all

clean-index:
	rm -rf .rag
