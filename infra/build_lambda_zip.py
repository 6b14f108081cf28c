"""Build the Lambda zip package: the serving closure for the python3.12 managed runtime.

`make lambda-zip` (then `sam deploy -t infra/template-zip.yaml`, see infra/README.md). The same
closure as the container image (`pip install .`, no extras, pinned by constraints-lambda.txt),
as manylinux wheels for CPython 3.12 on the chosen architecture, installed into a folder and
zipped with fixed timestamps so equal inputs give an equal file. No model inside: the function
fetches it from S3 at init, and SnapStart keeps it in the snapshot.

Fails when the unzipped size passes Lambda's 250 MB limit (function and layers together) or
when a training or eval package slipped into the closure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "build" / "lambda" / "reranker-lambda.zip"  # template-zip.yaml's CodeUri
DEFAULT_PYTHON = "3.12"  # template-zip.yaml's Runtime, and constraints-lambda.txt's Python
UNZIPPED_LIMIT = 250 * 1024 * 1024  # Lambda: deployment package plus layers, unzipped
ZIPPED_DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # larger zips go through S3 (sam deploy does)
HEAVY = ("torch", "transformers", "ranx", "bm25s", "numba", "sentence_transformers", "onnx")
# Never imported by the service at run time: pip's byte-code caches, bundled test suites.
PRUNED_DIRS = {"__pycache__", "tests", "test"}
FIXED_TIME = (2020, 1, 1, 0, 0, 0)
PLATFORMS = {
    "x86_64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "arm64": ["manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"],
}


def folder_bytes(folder: Path) -> int:
    """Return the total size of the files under `folder` (what Lambda counts as unzipped)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def install_closure(target: Path, arch: str, python_version: str) -> None:
    """Install our wheel and its pinned closure for the Lambda runtime's platform into `target`."""
    with tempfile.TemporaryDirectory() as wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", wheels, str(REPO)],
            check=True,
        )
        (wheel,) = Path(wheels).glob("reranker-*.whl")
        platforms = [arg for tag in PLATFORMS[arch] for arg in ("--platform", tag)]
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-compile",
                "--upgrade",
                "--target",
                str(target),
                "--implementation",
                "cp",
                "--python-version",
                python_version,
                *platforms,
                "--only-binary=:all:",
                "--constraint",
                str(REPO / "infra" / "constraints-lambda.txt"),
                str(wheel),
            ],
            check=True,
            env={**os.environ, "PIP_CONSTRAINT": "", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )


def prune(target: Path) -> None:
    """Drop byte-code caches and bundled test suites, and the `bin/` entry-point scripts."""
    for path in sorted(target.rglob("*"), reverse=True):
        if path.is_dir() and path.name in PRUNED_DIRS and not path.is_symlink():
            shutil.rmtree(path)
    shutil.rmtree(target / "bin", ignore_errors=True)


def find_python(version: str) -> str | None:
    """Return a CPython `version` interpreter found here (PATH, then pyenv), or None."""
    candidates = [
        shutil.which(f"python{version}"),
        *map(str, Path.home().glob(f".pyenv/versions/{version}*/bin/python{version}")),
    ]
    for candidate in candidates:
        if not candidate:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def compile_bytecode(target: Path, python: str) -> None:
    """Write `__pycache__` for the runtime's Python: /var/task is read-only on Lambda, so without
    it every cold init compiles the closure again (measured: 3.5 s of imports instead of 1.0 s).
    Unchecked hashes: the zip's fixed timestamps must not make Python distrust the byte code."""
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(target)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def check_closure(target: Path) -> None:
    names = {path.name.split("-")[0].lower() for path in target.iterdir()}
    leaked = sorted(names & set(HEAVY))
    if leaked:
        raise SystemExit(f"a training or eval package reached the Lambda zip: {leaked}")
    for needed in ("reranker", "onnxruntime", "tokenizers", "mangum", "fastapi", "numpy"):
        if not (target / needed).is_dir():
            raise SystemExit(f"{needed} is missing from the Lambda zip")


def write_zip(folder: Path, out: Path) -> None:
    """Zip `folder`'s contents with sorted names and fixed times (equal inputs, equal zip)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".zip.part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_dir():
                continue
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), FIXED_TIME)
            info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    partial.replace(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Lambda zip package (no model inside).")
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="x86_64")
    parser.add_argument("--python-version", default=DEFAULT_PYTHON, help="the Lambda runtime's Python")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--keep-folder", type=Path, help="also leave the unzipped package here")
    parser.add_argument("--compile-with", help="a CPython of the runtime's version (default: found here)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "package"
        install_closure(folder, args.arch, args.python_version)
        prune(folder)
        check_closure(folder)
        python = args.compile_with or find_python(args.python_version)
        if python:
            compile_bytecode(folder, python)
        else:
            print(f"warning: no python{args.python_version} here: the zip ships without byte code")
        unzipped = folder_bytes(folder)
        write_zip(folder, args.out)
        if args.keep_folder:
            shutil.rmtree(args.keep_folder, ignore_errors=True)
            shutil.copytree(folder, args.keep_folder)
    zipped = args.out.stat().st_size
    print(
        f"{args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}: "
        f"{zipped / 1e6:.1f} MB zipped, {unzipped / 1e6:.1f} MB unzipped "
        f"(Lambda limit {UNZIPPED_LIMIT / 1e6:.1f} MB unzipped; {args.arch}, CPython {args.python_version}, "
        f"{'byte code compiled' if python else 'no byte code'})"
    )
    if unzipped > UNZIPPED_LIMIT:
        print("FAILED: the unzipped package is over Lambda's limit", file=sys.stderr)
        return 1
    if zipped > ZIPPED_DIRECT_UPLOAD_LIMIT:
        print("note: over 50 MB zipped, so it must be deployed through S3 (sam deploy does that)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
