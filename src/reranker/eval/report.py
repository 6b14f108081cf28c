"""The report of one eval run: JSON for machines and the gate, Markdown for people."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

RUN_LABELS = {"first_stage": "first stage", "reranked": "reranked", "fused": "fused"}


def environment() -> dict[str, Any]:
    """Return the software and machine a figure came from, so figures are never compared blind."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for package in ("reranker", "ranx", "bm25s", "onnxruntime", "tokenizers"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "cpus": os.cpu_count(),
        "packages": versions,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _run_label(report: dict[str, Any], run: str) -> str:
    if run == "first_stage":
        return str(report["first_stage"].get("name", "first stage"))
    if run == "reranked":
        model = report["reranker"]
        variant = f", {model['variant']}" if model.get("variant") else ""
        return f"reranked ({model.get('model')}{variant})"
    if run == "fused":
        fusion = report.get("fusion", {})
        settings = ", ".join(f"{k} {v}" for k, v in fusion.items() if k != "method")
        return f"fused by the service ({fusion.get('method')}{', ' + settings if settings else ''})"
    offline = report.get("offline_fusion", {})
    if run == offline.get("run"):
        weights = offline.get("weights")
        extra = f", weights {weights['first_stage']}/{weights['reranked']}" if weights else ""
        return f"offline ranx fusion, not served ({offline['method']}, {offline['norm']}{extra})"
    return run


# What each variant's graph is on each runtime (scoring/graphs.py chooses the file).
_GRAPHS = {
    ("OpenVINO", "int8"): "static int8 (calibrated at export)",
    ("onnxruntime", "int8"): "dynamic int8",
    ("OpenVINO", "bf16"): "bf16",
}


def scored_by(reranker: dict[str, Any]) -> str:
    """Return the runtime, device and graph that scored, e.g. `OpenVINO CPU, static int8 graph`.

    The same `eval run` scores OpenVINO's static int8 in a venv with OpenVINO (the dev venv) and
    onnxruntime's dynamic int8 without it (the serve venv), and their figures differ: the header
    says which, so no two reports are compared blind.
    """
    provider, variant = reranker.get("provider"), reranker.get("variant")
    if not provider or not variant:
        return "runtime and graph not reported by the target"
    runtime = "OpenVINO" if str(provider).startswith("OpenVINO") else "onnxruntime"
    device = f"onnxruntime {provider}" if runtime == "onnxruntime" else str(provider)
    graph = _GRAPHS.get((runtime, str(variant)), str(variant))
    return f"{device}, {graph} graph"


def _cell(report: dict[str, Any], run: str, metric: str) -> str:
    value = report["metrics"][run][metric]
    text = f"{value:.4f}"
    pair = report.get("comparison", {}).get("runs", {}).get(run, {}).get(metric)
    if pair and pair["p_value"] is not None:
        mark = " *" if pair["significant"] else ""
        text += f" (p={pair['p_value']:.3g}{mark})"
    return text


def _queries_line(report: dict[str, Any]) -> str:
    dataset, first, reranker = report["dataset"], report["first_stage"], report["reranker"]
    counts = dataset.get("queries")
    evaluated = f"{dataset['queries_evaluated']} queries evaluated"
    if counts:
        evaluated += (
            f" of {counts['in_file']} in queries.jsonl ({counts['with_relevant']} with a relevant "
            f"judgement in this split, {counts['judged_not_relevant']} judged only non-relevant, "
            f"{counts['judged_in_other_splits']} judged in other splits only, {counts['unjudged']} unjudged)"
        )
    return (
        f"{evaluated}; {dataset['documents']} documents; top {first['top_k']} of the first stage "
        f"reranked by `{reranker.get('model')}` ({reranker['mode']})."
    )


def _win_tie_loss(report: dict[str, Any], metrics: list[str]) -> list[str]:
    comparison = report.get("comparison", {})
    if not comparison.get("runs"):
        return []
    lines = [
        "",
        "Queries won / tied / lost against the first stage:",
        "",
        "| run | " + " | ".join(metrics) + " |",
        "| --- | " + " | ".join("---" for _ in metrics) + " |",
    ]
    for run, pairs in comparison["runs"].items():
        cells = []
        for metric in metrics:
            wtl = pairs[metric]["win_tie_loss"]
            cells.append(f"{wtl['W']} / {wtl['T']} / {wtl['L']}")
        lines.append(f"| {_run_label(report, run)} | " + " | ".join(cells) + " |")
    return lines


def _movers(report: dict[str, Any]) -> list[str]:
    changes = report.get("query_changes")
    if not changes:
        return []
    metric = changes["metric"]
    lines: list[str] = []
    for run, moved in changes["runs"].items():
        for side, word in (("gained", "gained"), ("lost", "lost")):
            rows = moved[side]
            lines += ["", f"{_run_label(report, run)}: the {len(rows)} queries that {word} most ({metric}):"]
            if not rows:
                lines.append("none")
                continue
            lines += [
                "",
                f"| query | first stage | {run} | change | text |",
                "| --- | --- | --- | --- | --- |",
            ]
            for row in rows:
                text = row.get("query", "").replace("|", "/")
                lines.append(
                    f"| {row['query_id']} | {row['before']:.4f} | {row['after']:.4f} | "
                    f"{row['delta']:+.4f} | {text} |"
                )
    return lines


def _timings(report: dict[str, Any]) -> list[str]:
    environment = report["environment"]
    timings = report.get("timings")
    lines = ["", "| stage | seconds | detail |", "| --- | --- | --- |"]
    if timings is None:  # a report written before stage timings existed
        return [*lines, f"| total | {report['wall_seconds']:.1f} | |"]
    before = timings.get("before_run_seconds")
    if before is not None:
        lines.append(f"| before the run | {before:.1f} | interpreter start, imports, option parsing |")
    for entry in timings["stages"]:
        lines.append(f"| {entry['stage']} | {entry['seconds']:.1f} | {entry['detail']} |")
    total = timings["wall_seconds"] + (before or 0.0)
    lines.append(
        f"| total | {total:.1f} | {'process' if before is not None else 'run'} wall time; "
        f"{environment['cpus']} CPUs, {environment['processor']} |"
    )
    return lines


def markdown(report: dict[str, Any]) -> str:
    """Return the report as Markdown: what was run, the metrics side by side, wins/ties/losses,
    the queries that moved most, and where the time went."""
    dataset = report["dataset"]
    metrics = report["metric_names"]
    comparison = report.get("comparison", {})
    lines = [
        f"# Eval: {dataset['name']} ({dataset['split']})",
        "",
        f"**Scored by: {scored_by(report['reranker'])}.**",
        "",
        _queries_line(report),
        "",
        "| run | " + " | ".join(metrics) + " |",
        "| --- | " + " | ".join("---" for _ in metrics) + " |",
    ]
    for run in report["metrics"]:
        cells = " | ".join(_cell(report, run, metric) for metric in metrics)
        lines.append(f"| {_run_label(report, run)} | {cells} |")
    if comparison:
        lines += [
            "",
            f"p: paired {comparison['stat_test']} test against the first stage; "
            f"* marks p < {comparison['max_p']}.",
        ]
    lines += _win_tie_loss(report, metrics)
    lines += _movers(report)
    lines += _timings(report)
    lines.append("")
    return "\n".join(lines)


def write(out: Path, report: dict[str, Any]) -> None:
    """Write report.json and report.md into the run folder."""
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
