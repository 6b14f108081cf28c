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
    return f"fused ({report.get('fusion', {}).get('method')})"


def _cell(report: dict[str, Any], run: str, metric: str) -> str:
    value = report["metrics"][run][metric]
    text = f"{value:.4f}"
    pair = report.get("comparison", {}).get("runs", {}).get(run, {}).get(metric)
    if pair and pair["p_value"] is not None:
        mark = " *" if pair["significant"] else ""
        text += f" (p={pair['p_value']:.3g}{mark})"
    return text


def markdown(report: dict[str, Any]) -> str:
    """Return the report as Markdown: what was run, the metrics side by side, the timings."""
    dataset, first, reranker = report["dataset"], report["first_stage"], report["reranker"]
    metrics = report["metric_names"]
    comparison = report.get("comparison", {})
    lines = [
        f"# Eval: {dataset['name']} ({dataset['split']})",
        "",
        f"{dataset['queries_evaluated']} queries with a relevant judgement, "
        f"{dataset['documents']} documents; top {first['top_k']} of the first stage reranked by "
        f"`{reranker.get('model')}` ({reranker['mode']}).",
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
    lines += [
        "",
        "| stage | seconds | detail |",
        "| --- | --- | --- |",
        f"| first stage | {first['seconds']:.1f} | {first['candidates']} candidates |",
        f"| rerank | {reranker['seconds']:.1f} | {reranker['documents_scored_now']} documents scored now, "
        f"{reranker['queries_resumed']} queries resumed |",
        f"| total | {report['wall_seconds']:.1f} | {report['environment']['cpus']} CPUs, "
        f"{report['environment']['processor']} |",
        "",
    ]
    return "\n".join(lines)


def write(out: Path, report: dict[str, Any]) -> None:
    """Write report.json and report.md into the run folder."""
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
