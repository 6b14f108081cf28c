"""BEIR dataset folders (corpus.jsonl, queries.jsonl, qrels/<split>.tsv), read and validated.

Every problem names the file (relative to the dataset folder, never an absolute path) and the
line, so a broken download or a hand-made collection can be fixed without guessing. Documents
with no text at all are kept (Cranfield has two) and reported as warnings: they are part of the
collection, and dropping them would change what the first stage can retrieve.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from reranker.eval.errors import DatasetError

logger = logging.getLogger(__name__)


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Document:
    title: str
    text: str


@dataclass(frozen=True)
class QueryCounts:
    """How the queries of queries.jsonl divide for one split; the four parts add up to `in_file`.

    A collection's unjudged queries (CISI judges 76 of 112) are not failures of the run, but a
    reader comparing figures must know how many queries a mean is over.
    """

    in_file: int
    with_relevant: int  # evaluated (before --max-queries)
    judged_not_relevant: int  # judged in this split, every judgement 0: not evaluated
    judged_in_other_splits: int  # no judgement in this split, some in another qrels/*.tsv
    unjudged: int  # no judgement in any split


@dataclass(frozen=True)
class Dataset:
    """A loaded split. `qrels` holds only queries with at least one relevant (score > 0) judgement."""

    name: str
    split: str
    corpus: dict[str, Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    fingerprint: str
    corpus_fingerprint: str
    warnings: list[str] = field(default_factory=list)
    query_counts: QueryCounts | None = None

    @property
    def query_ids(self) -> list[str]:
        """Return the evaluated query ids in a fixed order (sorted), so runs are reproducible."""
        return sorted(self.qrels)


class _Reader:
    """Collects problems across a file instead of stopping at the first one."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.problems: list[str] = []
        self.digest = hashlib.sha256()

    def lines(self, relative: str) -> list[tuple[int, str]]:
        raw = (self.folder / relative).read_bytes()
        self.digest.update(relative.encode() + b"\0" + hashlib.sha256(raw).digest())
        out: list[tuple[int, str]] = []
        for number, line in enumerate(raw.split(b"\n"), start=1):
            try:
                text = line.decode("utf-8").rstrip("\r")
            except UnicodeDecodeError as exc:
                self.problems.append(f"{relative} line {number}: not valid UTF-8 (at byte {exc.start + 1})")
                continue
            if text.strip():
                out.append((number, text))
        return out

    def json_rows(self, relative: str) -> list[tuple[int, dict[str, object]]]:
        rows: list[tuple[int, dict[str, object]]] = []
        for number, text in self.lines(relative):
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                self.problems.append(
                    f"{relative} line {number}: not valid JSON ({exc.msg} at column {exc.colno})"
                )
                continue
            if not isinstance(row, dict):
                self.problems.append(f"{relative} line {number}: expected a JSON object")
                continue
            rows.append((number, row))
        return rows

    def string(
        self, relative: str, number: int, row: dict[str, object], key: str, required: bool
    ) -> str | None:
        value = row.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str):
            what = "is missing" if key not in row else f"must be a string, not {type(value).__name__}"
            self.problems.append(f"{relative} line {number}: {key!r} {what}")
            return None
        return value


def _read_corpus(reader: _Reader, warnings: list[str]) -> dict[str, Document]:
    corpus: dict[str, Document] = {}
    first_line: dict[str, int] = {}
    for number, row in reader.json_rows("corpus.jsonl"):
        doc_id = reader.string("corpus.jsonl", number, row, "_id", required=True)
        text = reader.string("corpus.jsonl", number, row, "text", required=True)
        title = reader.string("corpus.jsonl", number, row, "title", required=False)
        if doc_id is None or text is None or title is None:
            continue
        if not doc_id.strip():
            reader.problems.append(f"corpus.jsonl line {number}: '_id' is empty")
        elif doc_id in first_line:
            reader.problems.append(
                f"corpus.jsonl line {number}: duplicate _id {doc_id!r} (first on line {first_line[doc_id]})"
            )
        else:
            first_line[doc_id] = number
            corpus[doc_id] = Document(title=title, text=text)
            if not (title.strip() or text.strip()):
                warnings.append(f"corpus.jsonl line {number}: document {doc_id!r} has no title and no text")
    return corpus


def _read_queries(reader: _Reader) -> tuple[dict[str, str], dict[str, int]]:
    queries: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, row in reader.json_rows("queries.jsonl"):
        query_id = reader.string("queries.jsonl", number, row, "_id", required=True)
        text = reader.string("queries.jsonl", number, row, "text", required=True)
        if query_id is None or text is None:
            continue
        if query_id in first_line:
            reader.problems.append(
                f"queries.jsonl line {number}: duplicate _id {query_id!r} "
                f"(first on line {first_line[query_id]})"
            )
            continue
        first_line[query_id] = number
        queries[query_id] = text
    return queries, first_line


def _read_qrels(
    reader: _Reader, relative: str, corpus: dict[str, Document], queries: dict[str, str]
) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    first_line: dict[tuple[str, str], int] = {}
    for index, (number, text) in enumerate(reader.lines(relative)):
        fields = text.split("\t")
        if index == 0 and len(fields) == 3 and not _is_int(fields[2]):
            continue  # the header (BEIR writes query-id, corpus-id, score)
        if len(fields) != 3:
            reader.problems.append(
                f"{relative} line {number}: expected 3 tab-separated fields "
                f"(query-id, corpus-id, score), found {len(fields)}"
            )
            continue
        query_id, doc_id, score_text = (f.strip() for f in fields)
        try:
            score = int(score_text)
        except ValueError:
            reader.problems.append(f"{relative} line {number}: score {score_text!r} is not an integer")
            continue
        if query_id not in queries:
            reader.problems.append(f"{relative} line {number}: query-id {query_id!r} is not in queries.jsonl")
        elif doc_id not in corpus:
            reader.problems.append(f"{relative} line {number}: corpus-id {doc_id!r} is not in corpus.jsonl")
        elif (query_id, doc_id) in first_line:
            reader.problems.append(
                f"{relative} line {number}: duplicate judgement of ({query_id!r}, {doc_id!r}) "
                f"(first on line {first_line[query_id, doc_id]})"
            )
        else:
            first_line[query_id, doc_id] = number
            qrels.setdefault(query_id, {})[doc_id] = score
    return qrels


def _judged_elsewhere(folder: Path, split: str) -> set[str]:
    """Return the query ids of the other splits' qrels (first column; read leniently, never validated)."""
    ids: set[str] = set()
    for path in sorted((folder / "qrels").glob("*.tsv")):
        if path.stem == split:
            continue
        with path.open("rb") as handle:
            for raw in handle:
                ids.add(raw.split(b"\t", 1)[0].strip().decode("utf-8", "replace"))
    return ids


def _missing_files(folder: Path, split: str) -> list[str]:
    missing = [name for name in ("corpus.jsonl", "queries.jsonl") if not (folder / name).is_file()]
    if not (folder / "qrels" / f"{split}.tsv").is_file():
        splits = (
            sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        )
        have = f"; splits here: {', '.join(splits)}" if splits else "; there is no qrels/*.tsv"
        missing.append(f"qrels/{split}.tsv{have}")
    return missing


def load_dataset(folder: Path, split: str = "test") -> Dataset:
    """Return the split of the BEIR folder, validated; raises DatasetError listing every problem."""
    name = folder.resolve().name or "dataset"
    if not folder.is_dir():
        raise DatasetError(f"dataset {name!r}", ["the dataset folder does not exist"])
    missing = _missing_files(folder, split)
    if missing:
        raise DatasetError(f"dataset {name!r}", [f"missing {item}" for item in missing])
    reader = _Reader(folder)
    warnings: list[str] = []
    corpus = _read_corpus(reader, warnings)
    corpus_fingerprint = reader.digest.hexdigest()
    queries, query_lines = _read_queries(reader)
    relative = f"qrels/{split}.tsv"
    all_qrels = _read_qrels(reader, relative, corpus, queries)
    qrels = {q: judged for q, judged in all_qrels.items() if any(score > 0 for score in judged.values())}
    for query_id in sorted(qrels):
        if not queries[query_id].strip():
            reader.problems.append(f"queries.jsonl line {query_lines[query_id]}: query {query_id!r} is empty")
    if not reader.problems and not qrels:
        reader.problems.append(f"{relative}: no query has a relevant (score > 0) judgement")
    if reader.problems:
        raise DatasetError(f"dataset {name!r}", reader.problems)
    for warning in warnings:
        logger.warning("dataset %r: %s", name, warning, extra={"dataset": name})
    return Dataset(
        name=name,
        split=split,
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        fingerprint=reader.digest.hexdigest(),
        corpus_fingerprint=corpus_fingerprint,
        warnings=warnings,
        query_counts=_count_queries(queries, all_qrels, qrels, _judged_elsewhere(folder, split)),
    )


def _count_queries(
    queries: dict[str, str],
    all_qrels: dict[str, dict[str, int]],
    qrels: dict[str, dict[str, int]],
    elsewhere: set[str],
) -> QueryCounts:
    not_here = [q for q in queries if q not in all_qrels]
    other = sum(1 for q in not_here if q in elsewhere)
    return QueryCounts(
        in_file=len(queries),
        with_relevant=len(qrels),
        judged_not_relevant=len(all_qrels) - len(qrels),
        judged_in_other_splits=other,
        unjudged=len(not_here) - other,
    )
