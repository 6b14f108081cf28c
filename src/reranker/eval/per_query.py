"""Per-query metric values: saved beside the run files (per_query.tsv), read back, and the queries
that moved most between two runs.

A mean hides which queries a model broke; the file lets anyone diff two runs query by query
(`reranker eval compare`), with a spreadsheet, or with `sort -k`. One row per run and query:
`run  query_id  <metric>...`, values at full float precision.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from reranker.eval.errors import EvalError
from reranker.eval.metrics import PerQuery

FILE = "per_query.tsv"
MOVERS = 10


def write(path: Path, query_ids: list[str], scores: PerQuery, metrics: list[str]) -> None:
    """Write every run's value of every metric for every judged query."""
    lines = ["\t".join(["run", "query_id", *metrics])]
    for run, per in scores.items():
        for index, query in enumerate(query_ids):
            lines.append("\t".join([run, query, *(repr(float(per[m][index])) for m in metrics)]))
    temp = path.with_name(path.name + ".tmp")
    temp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    temp.replace(path)


def read(path: Path) -> tuple[list[str], dict[str, dict[str, dict[str, float]]]]:
    """Return the metric names and {run: {query: {metric: value}}} of a per_query.tsv."""
    if not path.is_file():
        raise EvalError(f"{path.parent.name}/{path.name} is missing; rerun `reranker eval run` to write it")
    rows = path.read_text(encoding="utf-8").splitlines()
    header = rows[0].split("\t") if rows else []
    if header[:2] != ["run", "query_id"] or len(header) < 3:
        raise EvalError(f"{path.name}: the first line must be run, query_id and metric names")
    metrics = header[2:]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for number, row in enumerate(rows[1:], start=2):
        fields = row.split("\t")
        try:
            values = [float(v) for v in fields[2:]]
        except ValueError:
            values = []
        if len(fields) != len(header) or len(values) != len(metrics) or not all(map(math.isfinite, values)):
            raise EvalError(f"{path.name} line {number}: expected {len(header)} fields with numeric values")
        out.setdefault(fields[0], {})[fields[1]] = dict(zip(metrics, values, strict=True))
    return metrics, out


def movers(
    query_ids: list[str],
    treatment: np.ndarray[Any, np.dtype[np.float64]],
    control: np.ndarray[Any, np.dtype[np.float64]],
    count: int = MOVERS,
) -> dict[str, list[dict[str, Any]]]:
    """Return the `count` queries that gained most and lost most (ties by query id), changed ones only."""
    deltas = treatment - control
    rows: list[dict[str, Any]] = [
        {"query_id": q, "before": float(control[i]), "after": float(treatment[i]), "delta": float(deltas[i])}
        for i, q in enumerate(query_ids)
    ]
    gained = sorted((r for r in rows if r["delta"] > 0), key=lambda r: (-r["delta"], r["query_id"]))
    lost = sorted((r for r in rows if r["delta"] < 0), key=lambda r: (r["delta"], r["query_id"]))
    return {"gained": gained[:count], "lost": lost[:count]}
