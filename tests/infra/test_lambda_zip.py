"""infra/build_lambda_zip.py without the network: pruning, the closure check, a repeatable zip.

The full build (pip against PyPI, ~1.5 min) runs in `make lambda-zip` and `make image-smoke`,
which also boots the zip in the Lambda stand-in; infra/README.md has its measured size.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.infra.test_template_zip import zip_builder


def package(root: Path) -> Path:
    for relative in (
        "reranker/__init__.py",
        "reranker/__pycache__/handler.cpython-312.pyc",
        "onnxruntime/capi/onnxruntime_pybind11_state.so",
        "onnxruntime/tools/__init__.py",
        "tokenizers/__init__.py",
        "mangum/__init__.py",
        "fastapi/__init__.py",
        "numpy/__init__.py",
        "numpy/tests/test_core.py",
        "bin/uvicorn",
    ):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(b"x" * 10)
    return root


def test_prune_drops_caches_tests_and_scripts_and_keeps_the_code(tmp_path: Path) -> None:
    builder = zip_builder()
    folder = package(tmp_path / "pkg")
    builder.prune(folder)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == [
        "fastapi/__init__.py",
        "mangum/__init__.py",
        "numpy/__init__.py",
        "onnxruntime/capi/onnxruntime_pybind11_state.so",
        "onnxruntime/tools/__init__.py",
        "reranker/__init__.py",
        "tokenizers/__init__.py",
    ]
    builder.check_closure(folder)
    assert builder.folder_bytes(folder) == 70


def test_closure_check_refuses_training_packages(tmp_path: Path) -> None:
    builder = zip_builder()
    folder = package(tmp_path / "pkg")
    (folder / "torch").mkdir()
    with pytest.raises(SystemExit, match="torch"):
        builder.check_closure(folder)


def test_zip_is_byte_for_byte_repeatable_and_keeps_modes(tmp_path: Path) -> None:
    builder = zip_builder()
    folder = package(tmp_path / "pkg")
    (folder / "bin" / "uvicorn").chmod(0o755)
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    builder.write_zip(folder, first)
    (folder / "reranker" / "__init__.py").touch()  # a newer mtime must not change the zip
    builder.write_zip(folder, second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        assert archive.read("reranker/__init__.py") == b"x" * 10
    assert modes["bin/uvicorn"] == 0o755 and modes["reranker/__init__.py"] == 0o644
