"""`reranker eval compare A B`: two saved runs side by side, query by query, with the paired test.

Means say which run is better on average; the per-query values (per_query.tsv beside each
report) say on which queries, and the paired test says whether the difference is more than
noise. Both runs must come from the same dataset, split and query set, or pairing them would
compare different questions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from reranker.eval import per_query
from reranker.eval.errors import EvalError
from reranker.eval.metrics import paired_test


def _folder(path: Path) -> Path:
    return path.parent if path.is_file() else path


def _report(folder: Path, label: str) -> dict[str, Any]:
    path = folder / "report.json"
    try:
        report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise EvalError(f"{label}: {folder.name}/report.json cannot be read; give a run folder") from None
    except ValueError:
        raise EvalError(f"{label}: {folder.name}/report.json is not valid JSON") from None
    return report


def compare_runs(
    a: Path,
    b: Path,
    *,
    run_a: str = "reranked",
    run_b: str = "reranked",
    metrics: list[str] | None = None,
    stat_test: str = "student",
    max_p: float = 0.05,
    top: int = per_query.MOVERS,
) -> dict[str, Any]:
    """Return B's run against A's run: means, paired test, wins/ties/losses, the queries that moved most."""
    folders = {"A": _folder(a), "B": _folder(b)}
    reports = {label: _report(folder, label) for label, folder in folders.items()}
    for key in ("fingerprint", "split"):
        if reports["A"]["dataset"].get(key) != reports["B"]["dataset"].get(key):
            raise EvalError(
                f"A and B were made on different data (dataset {key} differs: "
                f"{reports['A']['dataset'].get('name')} vs {reports['B']['dataset'].get('name')}); "
                "a per-query comparison needs the same dataset and split"
            )
    values: dict[str, dict[str, dict[str, float]]] = {}
    names: dict[str, list[str]] = {}
    for label, folder, run in (("A", folders["A"], run_a), ("B", folders["B"], run_b)):
        names[label], runs = per_query.read(folder / per_query.FILE)
        if run not in runs:
            raise EvalError(f"{label} has no run {run!r}; its runs: {', '.join(runs)}")
        values[label] = runs[run]
    if set(values["A"]) != set(values["B"]):
        raise EvalError(
            f"A has {len(values['A'])} queries and B {len(values['B'])}, not the same ones; "
            "compare runs made over the same queries (--max-queries)"
        )
    common = [m for m in names["A"] if m in names["B"]]
    chosen = metrics or common
    missing = [m for m in chosen if m not in common]
    if missing or not chosen:
        raise EvalError(
            f"metric {missing[0] if missing else ''!r} is not in both; both have: {', '.join(common)}"
        )
    query_ids = sorted(values["A"])
    table: dict[str, Any] = {}
    for metric in chosen:
        before = np.array([values["A"][q][metric] for q in query_ids], dtype=np.float64)
        after = np.array([values["B"][q][metric] for q in query_ids], dtype=np.float64)
        table[metric] = {
            "A": float(before.mean()),
            "B": float(after.mean()),
            **paired_test(after, before, stat_test, max_p),
        }
        if metric == chosen[0]:
            moved = per_query.movers(query_ids, after, before, top)
    return {
        "A": {
            "folder": str(folders["A"]),
            "run": run_a,
            "model": reports["A"].get("reranker", {}).get("model"),
        },
        "B": {
            "folder": str(folders["B"]),
            "run": run_b,
            "model": reports["B"].get("reranker", {}).get("model"),
        },
        "dataset": reports["A"]["dataset"]["name"],
        "split": reports["A"]["dataset"]["split"],
        "queries": len(query_ids),
        "stat_test": stat_test,
        "max_p": max_p,
        "metrics": table,
        "movers": {"metric": chosen[0], **moved},
    }


def markdown(result: dict[str, Any]) -> str:
    """Return the comparison as Markdown."""
    a, b = result["A"], result["B"]
    lines = [
        f"# Compare on {result['dataset']} ({result['split']}), {result['queries']} queries",
        "",
        f"A: {a['folder']} ({a['run']}, {a['model']})  ",
        f"B: {b['folder']} ({b['run']}, {b['model']})",
        "",
        "| metric | A | B | B - A | p | B won / tied / lost |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for metric, row in result["metrics"].items():
        p_value = (
            "n/a" if row["p_value"] is None else f"{row['p_value']:.3g}{' *' if row['significant'] else ''}"
        )
        wtl = row["win_tie_loss"]
        lines.append(
            f"| {metric} | {row['A']:.4f} | {row['B']:.4f} | {row['B'] - row['A']:+.4f} | {p_value} | "
            f"{wtl['W']} / {wtl['T']} / {wtl['L']} |"
        )
    lines += ["", f"p: paired {result['stat_test']} test; * marks p < {result['max_p']}."]
    movers = result["movers"]
    for side in ("gained", "lost"):
        rows = movers[side]
        lines += ["", f"The {len(rows)} queries where B {side} most against A ({movers['metric']}):"]
        if not rows:
            lines.append("none")
            continue
        lines += ["", "| query | A | B | change |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {r['query_id']} | {r['before']:.4f} | {r['after']:.4f} | {r['delta']:+.4f} |" for r in rows
        ]
    return "\n".join(lines) + "\n"
