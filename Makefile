# The two commands: `make run` (set up, index corpus/, open the chat page) and `make test`.
# Both work on a fresh machine with Python 3.11 and pip; system packages come from apt-get (as root).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-done
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1

.PHONY: setup run test browser bench clean-index

# llama.cpp is compiled for the installing CPU (-march=native) but without AMX: on CPUs that have it
# (Sapphire Rapids), ggml's AMX path segfaults in the first decode (seen here 2026-11-25, llama-cpp-python
# 0.3.36); AVX2 / AVX-512 / VNNI stay on. The flags are x86-only, so other machines build as usual.
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=ON "-DCMAKE_C_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" "-DCMAKE_CXX_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
endif

setup: $(STAMP)

# torch first, pinned to the local CPU wheel, so nothing later pulls a CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install torch==2.13.0
	# Built from source, never from pip's wheel cache (a cached wheel may carry other build flags).
	CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(BIN)/pip install --no-binary llama-cpp-python --no-cache-dir "llama-cpp-python[server]==0.3.36"
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
