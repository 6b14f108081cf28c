"""Fixtures of the eval tests: hand-made BEIR folders, the shared BEIR data, a BM25 cache dir."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

BEIR_ROOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "beir"
# ranx's compiled kernels, kept between sessions beside the gate's (`make gate` uses .cache/eval):
# otherwise the first eval run of a session would point numba at its own tmp dir and compile anew.
os.environ.setdefault(
    "NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[2] / ".cache" / "eval" / "numba")
)

# A tiny collection: doc "1" shares its id with query "1"; doc "5" is empty.
TINY_CORPUS: list[dict[str, object] | str] = [
    {"_id": "1", "title": "Cats", "text": "The cat sat on the mat and purred."},
    {"_id": "2", "title": "", "text": "Dogs are running in the park."},
    {"_id": "3", "title": "Mats", "text": "A mat is a flat piece of material."},
    {"_id": "4", "title": "Birds", "text": "Birds sing at dawn; cats watch the birds."},
    {"_id": "5", "title": "", "text": ""},
]
TINY_QUERIES: list[dict[str, object] | str] = [
    {"_id": "1", "text": "cat on a mat"},
    {"_id": "2", "text": "running dogs"},
    {"_id": "3", "text": "zebra"},
    {"_id": "9", "text": "never judged"},
]
TINY_QRELS: list[tuple[str, str, int] | str] = [
    ("1", "1", 2),
    ("1", "3", 1),
    ("1", "4", 0),
    ("2", "2", 1),
    ("3", "4", 1),
    ("9", "2", 0),
]

MakeDataset = Callable[..., Path]


def write_beir(
    folder: Path,
    corpus: Iterable[dict[str, object] | str] = TINY_CORPUS,
    queries: Iterable[dict[str, object] | str] = TINY_QUERIES,
    qrels: Iterable[tuple[str, str, int] | str] = TINY_QRELS,
    split: str = "test",
) -> Path:
    """Write a BEIR folder; a str item is written as the raw line (to make malformed files)."""

    def lines(items: Iterable[dict[str, object] | str]) -> str:
        return "".join((item if isinstance(item, str) else json.dumps(item)) + "\n" for item in items)

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text(lines(corpus), encoding="utf-8")
    (folder / "queries.jsonl").write_text(lines(queries), encoding="utf-8")
    (folder / "qrels").mkdir(exist_ok=True)
    rows = ["query-id\tcorpus-id\tscore"] + [
        row if isinstance(row, str) else "\t".join(str(field) for field in row) for row in qrels
    ]
    (folder / "qrels" / f"{split}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def make_dataset(tmp_path: Path) -> MakeDataset:
    """Return a function writing a BEIR folder named `name` under tmp_path (tiny defaults)."""

    def make(name: str = "tiny", **parts: object) -> Path:
        return write_beir(tmp_path / name, **parts)  # type: ignore[arg-type]

    return make


def beir_dataset(name: str) -> Path:
    folder = BEIR_ROOT / name
    if not (folder / "corpus.jsonl").is_file():
        pytest.skip(f"../shared/data/beir/{name} is absent")
    return folder


@pytest.fixture(scope="session")
def adi_dir() -> Path:
    """Return ../shared/data/beir/adi (82 documents), skipping when the shared data is absent."""
    return beir_dataset("adi")


@pytest.fixture(scope="session")
def cranfield_dir() -> Path:
    """Return ../shared/data/beir/cranfield (graded qrels with 0 rows, 2 empty documents)."""
    return beir_dataset("cranfield")


@pytest.fixture(scope="session")
def bm25_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a BM25 index cache dir shared by the session (never the user's ~/.cache)."""
    return tmp_path_factory.mktemp("bm25-cache")
