#!/usr/bin/env bash
# The relevance gate as CI runs it, runnable locally: gate a model (a folder, or a deployed API with
# GATE_API_URL), write JUnit XML and a Markdown summary, and on the main branch promote it.
#
#   GATE_DATASET=../shared/data/beir/scifact GATE_MODEL=path/to/model infra/ci/gate.sh
#   GATE_PROMOTE=s3://bucket/models/NAME@prod GATE_VERSION=3 GATE_BY=ci infra/ci/gate.sh   # also promote
set -euo pipefail

dataset="${GATE_DATASET:?set GATE_DATASET to a BEIR folder}"
gate="${GATE_FILE:-eval/gates.toml}"
out="${GATE_OUT:-gate-report}"
cache="${GATE_CACHE_DIR:-.cache/eval}"
reranker="${RERANKER:-reranker}"
mkdir -p "$out"

args=(eval run "$dataset" --gate "$gate" --out "$out/run" --cache-dir "$cache" --no-progress
      --junit "$out/junit.xml" --summary "$out/summary.md")
if [[ -n "${GATE_API_URL:-}" ]]; then
  args+=(--api-url "$GATE_API_URL" --model "${GATE_MODEL:-default}")
elif [[ -n "${GATE_MODEL:-}" ]]; then
  args+=(--model "$GATE_MODEL")
fi
status=0
"$reranker" "${args[@]}" || status=$?

if [[ -n "${GITHUB_STEP_SUMMARY:-}" && -f "$out/summary.md" ]]; then
  cat "$out/summary.md" >> "$GITHUB_STEP_SUMMARY"
fi
if [[ $status -ne 0 ]]; then
  exit "$status"
fi

if [[ -n "${GATE_PROMOTE:-}" ]]; then
  "$reranker" models promote "$GATE_PROMOTE" "${GATE_VERSION:?set GATE_VERSION}" \
    --gate "$gate" --dataset "$dataset" --cache-dir "$cache" --by "${GATE_BY:-ci}" \
    --reason "${GATE_REASON:-CI gate on $(git rev-parse --short HEAD 2>/dev/null || echo local)}"
fi
