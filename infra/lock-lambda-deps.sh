#!/usr/bin/env bash
# Rewrite infra/constraints-lambda.txt: the versions pip picks today for `pip install .` (no
# extras) on the Lambda image's Python (3.12, manylinux, x86_64), so image builds repeat.
# Run after changing [project].dependencies; tests/infra/test_containers.py checks it is in step.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
mapfile -t deps < <("$PYTHON" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))')
platforms=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014 manylinux_2_5; do
  platforms+=(--platform "${tag}_x86_64")
done
"$PYTHON" -m pip install --quiet --dry-run --ignore-installed --only-binary=:all: \
  --python-version 3.12 "${platforms[@]}" --target "$(mktemp -d)" --report "$report" "${deps[@]}"
"$PYTHON" - "$report" > infra/constraints-lambda.txt <<'PY'
import json, re, sys
report = json.load(open(sys.argv[1]))
print("# Versions baked into the Lambda image: the runtime dependency closure of `pip install .`")
print("# (no extras) as pip resolved it for CPython 3.12 on manylinux x86_64 (aarch64 resolves the same).")
print("# Regenerate with infra/lock-lambda-deps.sh after changing [project].dependencies.")
pins = sorted((re.sub(r"[-_.]+", "-", item["metadata"]["name"]).lower(), item["metadata"]["version"])
              for item in report["install"])
for name, version in pins:
    print(f"{name}=={version}")
PY
echo "wrote infra/constraints-lambda.txt"
