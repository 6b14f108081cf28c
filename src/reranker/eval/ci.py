"""The gate's verdict for CI: JUnit XML (one testcase per check) and a Markdown job summary.

JUnit is the subset every CI reads (Jenkins' and ant's junit.xsd: testsuite > testcase >
failure); a failed check's message names the metric, the figure and the bound.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reranker.eval.gate import Verdict
    from reranker.eval.gating import GatedRun

_HEAD = re.compile(r"^(?P<head>[^=:(]+?)\s*(=|:|\()")


def check_name(text: str) -> str:
    """Return a check's testcase name: what it gates and how (`fused ndcg@10 (min)`)."""
    match = _HEAD.match(text)
    head = match.group("head") if match else text
    if "(min)" in text:
        kind = "min"
    elif "vs baseline" in text:
        kind = "baseline"
    elif " vs " in text:
        kind = "beats " + text.split(" vs ", 1)[1].split(" ", 1)[0]
    else:
        kind = "condition"
    return f"{head.strip()} ({kind})"


def junit_xml(verdict: Verdict, suite: str) -> bytes:
    """Return the verdict as a JUnit XML document: one testsuite, one testcase per check."""
    failures = sum(1 for ok, _ in verdict.checks if not ok)
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(verdict.checks)),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    names: dict[str, int] = {}
    for ok, text in verdict.checks:
        name = check_name(text)
        names[name] = names.get(name, 0) + 1
        if names[name] > 1:
            name = f"{name} #{names[name]}"
        case = ET.SubElement(root, "testcase", name=name, classname=f"gate.{suite}")
        if not ok:
            failure = ET.SubElement(case, "failure", message=text, type="GateFailed")
            failure.text = text
        else:
            ET.SubElement(case, "system-out").text = text
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def summary_markdown(gated: GatedRun) -> str:
    """Return the Markdown summary: the verdict first, then the report."""
    from reranker.eval.report import markdown

    verdict = gated.verdict
    title = "Relevance gate passed" if verdict.passed else "Relevance gate FAILED"
    lines = [f"## {title}", "", "| | check |", "| --- | --- |"]
    lines += [f"| {'pass' if ok else '**FAIL**'} | {text.replace('|', '/')} |" for ok, text in verdict.checks]
    reused = " (a complete report of the same run was reused)" if gated.reused else ""
    lines += ["", f"Model fingerprint: `{gated.report['reranker'].get('model_fingerprint')}`{reused}", ""]
    return "\n".join(lines) + "\n" + markdown(gated.report)


def write_ci_files(gated: GatedRun, junit: Path | None, summary: Path | None) -> None:
    """Write the JUnit file and the Markdown summary where asked (appending to a summary file, as
    GitHub's $GITHUB_STEP_SUMMARY expects)."""
    dataset = gated.report["dataset"]
    if junit is not None:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_bytes(junit_xml(gated.verdict, f"{dataset['name']}.{dataset['split']}"))
    if summary is not None:
        summary.parent.mkdir(parents=True, exist_ok=True)
        with summary.open("a", encoding="utf-8") as out:
            out.write(summary_markdown(gated))
