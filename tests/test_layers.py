"""The layer contracts of pyproject.toml (docs/architecture.md) hold, and a broken one names its import."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the package under `root/src` with `root`'s pyproject.toml."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root / "src"), "PATH": str(LINT_IMPORTS.parent)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_code_keeps_every_contract() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_import_up_the_layers_fails_naming_it(tmp_path: Path) -> None:
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(REPO / "src" / "reranker", tmp_path / "src" / "reranker")
    store = tmp_path / "src" / "reranker" / "model_store" / "local.py"
    store.write_text(store.read_text() + "\nfrom reranker.scoring.graph_choice import choose_graph  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1
    assert "reranker.model_store.local -> reranker.scoring.graph_choice" in result.stdout


def test_the_architecture_page_names_every_module_of_the_layers() -> None:
    """docs/architecture.md is the map of these contracts: each layered module appears in it."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    page = (REPO / "docs" / "architecture.md").read_text()
    for layer in layers:
        for module in layer.replace("|", " ").replace(":", " ").split():
            path = module.removeprefix("reranker.").replace(".", "/")
            assert f"`{path}/`" in page or f"`{path}.py`" in page, f"{module} is not on the map"
