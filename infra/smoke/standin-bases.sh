#!/usr/bin/env bash
# Stand-in base images for the image smoke (infra/image_smoke.py), made here because no container
# registry can be reached: public.ecr.aws/lambda/python:3.12 and the CUDA base cannot be pulled.
#
# STAND-INS, NOT THE REAL BASES. They provide what our Dockerfiles rely on, so a build proves the
# Dockerfile, the dependency closure and the handler wiring; they do not prove Amazon Linux 2023,
# the AWS base image's own Python build, or CUDA.
#   lambda-python: Debian bookworm (mmdebstrap) + CPython 3.12 copied in at /var/lang (the AWS
#     image's layout), awslambdaric at /var/runtime, /lambda-entrypoint.sh, and the AWS image's
#     environment (LAMBDA_TASK_ROOT=/var/task, PATH, LD_LIBRARY_PATH, WORKDIR /var/task).
#   cuda-cpu: Debian bookworm only, for Dockerfile.gpu's CUDA_IMAGE: no CUDA, no GPU. The
#     Dockerfile's apt-get step installs Debian's python3 (3.11) where the real base gives 3.12.
# Both trust the build host's CA bundle (PIP_CERT), so pip and apt reach PyPI and Debian the way
# the host does.
#
# Usage: infra/smoke/standin-bases.sh    (as root; podman, buildah, runc, mmdebstrap installed)
# Env: PODMAN (the podman command, with its storage options), PYTHON312_PREFIX (a CPython 3.12
#      installation to copy in; default: the prefix of python3.12 on PATH or pyenv's 3.12).
set -euo pipefail
read -ra PODMAN <<< "${PODMAN:-podman}"
LAMBDA_TAG="${LAMBDA_STANDIN_TAG:-public.ecr.aws/lambda/python:3.12}"
CUDA_TAG="${CUDA_STANDIN_TAG:-localhost/standin/cuda-cpu:bookworm}"
AWSLAMBDARIC_VERSION="${AWSLAMBDARIC_VERSION:-4.2.2}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

find_python312() {
  if [[ -n "${PYTHON312_PREFIX:-}" ]]; then echo "$PYTHON312_PREFIX"; return; fi
  local exe
  for exe in "$(command -v python3.12 || true)" "$HOME"/.pyenv/versions/3.12*/bin/python3.12; do
    if [[ -x "$exe" ]] && "$exe" -c 'import sys; print(sys.prefix)' 2>/dev/null; then return; fi
  done
  echo "no CPython 3.12 found: set PYTHON312_PREFIX" >&2
  exit 2
}

PY312="$(find_python312)"
work="$(mktemp -d /var/tmp/reranker-standin.XXXXXX)"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

# Libraries a CPython build and onnxruntime load; minbase has libc, zlib, liblzma, libuuid.
# The bootstrap is kept (STANDIN_ROOTFS_CACHE) so a rerun skips it; delete the file to refresh it.
cache="${STANDIN_ROOTFS_CACHE:-/var/tmp/reranker-standin-bookworm.tar}"
if [[ ! -s "$cache" ]]; then
  mmdebstrap --quiet --variant=minbase \
    --include=ca-certificates,libssl3,libffi8,libsqlite3-0,libreadline8,libncursesw6,libgdbm6,libexpat1,libbz2-1.0,libstdc++6 \
    --format=tar bookworm "$cache.part" "$MIRROR"
  mv "$cache.part" "$cache"
fi
mkdir -p "$root"
tar -C "$root" -xf "$cache"
cp "$CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

common_env=(--change "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt" --change "ENV LANG=C.UTF-8")
tar -C "$root" -c . | "${PODMAN[@]}" import "${common_env[@]}" \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change 'CMD ["/bin/bash"]' - "$CUDA_TAG" > /dev/null
echo "stand-in $CUDA_TAG: Debian bookworm minbase (no CUDA)"

# The AWS Lambda Python image's layout on the same root filesystem.
mkdir -p "$root/var/lang" "$root/var/runtime" "$root/var/task" "$root/opt"
(cd "$PY312" && tar -c --exclude='./lib/python3.12/test' --exclude='*/__pycache__' \
   --exclude='./lib/python3.12/site-packages/*.pth' .) | tar -C "$root/var/lang" -x
ln -sf python3.12 "$root/var/lang/bin/python3"
ln -sf python3.12 "$root/var/lang/bin/python"
# Scripts (pip, ...) name the interpreter by its old prefix: point them at /var/lang.
for script in "$root"/var/lang/bin/*; do
  if [[ -f "$script" && ! -L "$script" ]] && head -c 2 "$script" | grep -q '#!'; then
    sed -i "1s|^#!$PY312/bin/|#!/var/lang/bin/|" "$script"
  fi
done
PIP_ROOT_USER_ACTION=ignore "$PY312/bin/python3.12" -m pip install --quiet --no-cache-dir --only-binary=:all: \
  --target "$root/var/runtime" "awslambdaric==$AWSLAMBDARIC_VERSION"
cat > "$root/lambda-entrypoint.sh" <<'SH'
#!/bin/sh
# Stand-in for the AWS image's entrypoint: the handler is the one argument. The AWS image runs
# its runtime interface emulator when AWS_LAMBDA_RUNTIME_API is unset; this stand-in has none.
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  echo "AWS_LAMBDA_RUNTIME_API is unset (this stand-in has no emulator)" 1>&2
  exit 142
fi
exec /var/runtime/bootstrap
SH
cat > "$root/var/runtime/bootstrap" <<'SH'
#!/bin/sh
# sys.path as on Lambda's python3.12 runtime: the function code, then the runtime client.
export AWS_EXECUTION_ENV="${AWS_EXECUTION_ENV:-AWS_Lambda_python3.12}"
export PYTHONPATH="${LAMBDA_TASK_ROOT}:${LAMBDA_RUNTIME_DIR}"
exec /var/lang/bin/python3.12 -m awslambdaric "$_HANDLER"
SH
chmod 755 "$root/lambda-entrypoint.sh" "$root/var/runtime/bootstrap"

tar -C "$root" -c . | "${PODMAN[@]}" import "${common_env[@]}" \
  --change "ENV LAMBDA_TASK_ROOT=/var/task" \
  --change "ENV LAMBDA_RUNTIME_DIR=/var/runtime" \
  --change "ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin" \
  --change "ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib" \
  --change "ENV TZ=:/etc/localtime" \
  --change "WORKDIR /var/task" \
  --change 'ENTRYPOINT ["/lambda-entrypoint.sh"]' - "$LAMBDA_TAG" > /dev/null
echo "stand-in $LAMBDA_TAG: Debian bookworm + CPython $("$PY312/bin/python3.12" -c 'import platform; print(platform.python_version())') at /var/lang + awslambdaric $AWSLAMBDARIC_VERSION"
