"""`reranker models publish | list` on the command line, against the real S3 API (moto server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reranker.cli import main


def test_publish_then_list_as_a_table_and_as_json(
    bucket: str, model_dir: Path, moto_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = f"s3://{bucket}/models"
    assert main(["models", "publish", str(model_dir), root, "--endpoint-url", moto_endpoint]) == 0
    out = capsys.readouterr().out
    uri = f"{root}/tiny-ce/1"
    assert out.startswith("published tiny-ce version 1 (cross-encoder, ")
    assert f"to {uri}\n" in out
    assert f"""RERANK_MODELS='{json.dumps({"tiny-ce": uri})}'""" in out

    assert main(["models", "list", root, "--endpoint-url", moto_endpoint]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["NAME", "VERSION", "KIND", "SIZE", "URI"]
    assert row.split()[:3] == ["tiny-ce", "1", "cross-encoder"] and row.endswith(uri)

    assert main(["models", "list", root, "--json", "--endpoint-url", moto_endpoint]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    size = sum(
        entry["size"] for entry in json.loads((model_dir / "model.json").read_text())["files"].values()
    )
    assert listed["uri"] == uri and listed["size"] == size and listed["kind"] == "cross-encoder"


def test_publishing_over_a_version_needs_force(
    bucket: str, model_dir: Path, moto_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["models", "publish", str(model_dir), f"s3://{bucket}/models", "--endpoint-url", moto_endpoint]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == "reranker: model tiny-ce/1 is already published there; pass --force to replace it\n"
    assert main([*args, "--force"]) == 0


def test_the_endpoint_comes_from_the_settings_too(
    bucket: str,
    model_dir: Path,
    moto_endpoint: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RERANK_S3_ENDPOINT_URL", moto_endpoint)
    assert main(["models", "list", f"s3://{bucket}/models"]) == 0
    assert capsys.readouterr().out.split() == ["NAME", "VERSION", "KIND", "SIZE", "URI"]


def test_bad_arguments_are_refused_before_any_call(
    model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "publish", str(model_dir), "s3://Bad_Bucket/models"]) == 2
    assert "not a valid S3 bucket name" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["models", "publish", str(model_dir), "s3://bucket/models", "--part-mb", "1"])
    assert "S3 parts must be 5 to 5120 MB" in capsys.readouterr().err
