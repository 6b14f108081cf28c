"""The ready CI jobs: they parse, name only commands and flags that exist, and the gate's JUnit file
validates against the junit.xsd CI tools read; infra/ci/gate.sh runs the same steps here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reranker.cli import main
from reranker.eval.ci import junit_xml
from reranker.eval.gate import Verdict
from tests.eval.conftest import MakeDataset

REPO = Path(__file__).resolve().parents[2]
CI = REPO / "infra" / "ci"
XSD = REPO / "tests" / "fixtures" / "junit" / "junit.xsd"
JOBS = [CI / "github-gate.yml", CI / "gitlab-gate.yml"]
COMMAND = re.compile(r"reranker((?:\s+[a-z]+)+)((?:\s+(?:\"[^\"]*\"|'[^']*'|[^\s\"']+))*)")


def commands(text: str) -> list[tuple[list[str], list[str]]]:
    """Return each `reranker WORDS ... --flags` in `text`: its subcommand words and its flags."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found = []
    for match in COMMAND.finditer(joined):
        words = match.group(1).split()
        unquoted = re.sub(r"\"[^\"]*\"|'[^']*'", " ", match.group(2))  # flags inside values are not ours
        flags = re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", unquoted)
        found.append((words, flags))
    return found


def _help(words: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main([*words, "--help"])
    assert exited.value.code == 0, words
    return capsys.readouterr().out


@pytest.mark.parametrize("path", [*JOBS, CI / "gate.sh"], ids=lambda p: p.name)
def test_the_jobs_name_only_commands_and_flags_that_exist(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = path.read_text()
    if path.suffix == ".yml":
        assert isinstance(yaml.safe_load(text), dict)
    found = commands(text) + (
        commands(text.replace('"$reranker"', "reranker")) if path.suffix == ".sh" else []
    )
    assert found, f"{path.name} runs no reranker command"
    for words, flags in found:
        words = [w for w in words if w in ("eval", "run", "models", "promote", "history", "gate")]
        shown = _help(words, capsys)
        for flag in flags:
            assert flag in shown, f"{path.name}: reranker {' '.join(words)} has no {flag}"
    if path.suffix == ".sh":  # the flags the script passes through its argument array
        shown = _help(["eval", "run"], capsys)
        for flag in re.findall(r"(--[a-z][a-z-]*)", text.split("args=(", 1)[1].split(")", 1)[0]):
            assert flag in shown


def test_the_junit_file_validates_and_a_failure_names_metric_figure_and_bound() -> None:
    xmlschema = pytest.importorskip("xmlschema")
    checks = [
        (True, "top_k = 5 (the thresholds were measured with 5)"),
        (False, "reranked ndcg@10 = 0.5566 < 0.6000 (min)"),
        (True, "fused ndcg@10 = 0.7273 vs first_stage 0.6777 (+0.0496; needs +0.0300)"),
    ]
    document = junit_xml(Verdict(False, [], checks), "tiny.test")
    schema = xmlschema.XMLSchema(str(XSD))
    schema.validate(document.decode())
    parsed = schema.to_dict(document.decode())
    assert parsed["@tests"] == "3" and parsed["@failures"] == "1"
    cases = {case["@name"]: case for case in parsed["testcase"]}
    assert set(cases) == {"top_k (condition)", "reranked ndcg@10 (min)", "fused ndcg@10 (beats first_stage)"}
    failure = cases["reranked ndcg@10 (min)"]["failure"][0]
    assert failure["@message"] == "reranked ndcg@10 = 0.5566 < 0.6000 (min)"


@pytest.mark.slow
def test_gate_sh_runs_the_gate_and_writes_junit_and_summary(
    make_dataset: MakeDataset, tiny_cross_encoder_dir: Path, tmp_path: Path, bm25_cache: Path
) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    gate = tmp_path / "gates.toml"
    gate.write_text('[tiny.test]\ntop_k = 5\n\n[tiny.test.reranked]\nmin = { "ndcg@10" = 0.99 }\n')
    reranker = shutil.which("reranker", path=str(Path(sys.executable).parent))
    assert reranker is not None
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "RERANKER": reranker,
        "RERANK_RUNTIME": "onnxruntime",
        "GATE_DATASET": str(make_dataset()),
        "GATE_MODEL": str(tiny_cross_encoder_dir),
        "GATE_FILE": str(gate),
        "GATE_OUT": str(tmp_path / "report"),
        "GATE_CACHE_DIR": str(bm25_cache),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md"),
    }
    done = subprocess.run(["bash", str(CI / "gate.sh")], env=env, capture_output=True, text=True, timeout=300)

    assert done.returncode == 1, done.stderr[-2000:]  # the floor of 0.99 fails
    junit = (tmp_path / "report" / "junit.xml").read_text()
    xmlschema.XMLSchema(str(XSD)).validate(junit)
    assert 'message="reranked ndcg@10 = ' in junit and "&lt; 0.9900 (min)" in junit
    assert "Relevance gate FAILED" in (tmp_path / "step-summary.md").read_text()
