"""publish -> eval -> promote -> serve name@prod -> a failing candidate refused -> rollback, on the
moto S3 server and through the HTTP API; the alias's bad inputs and concurrent moves."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from reranker.api.app import create_app
from reranker.cli import main
from reranker.config import Settings
from reranker.errors import AliasConflict
from reranker.model_store import cache
from reranker.model_store.aliases import LocalAliasStore, S3AliasStore, parse_record
from reranker.model_store.publish import publish_model
from reranker.s3uri import S3Location
from tests.eval.conftest import write_beir
from tests.fixtures.moto_server import bucket, moto_client, moto_endpoint, s3_client
from tests.model_store.conftest import copy_model
from tests.model_store.tcp_proxy import CuttableProxy

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["bucket", "moto_client", "moto_endpoint"]

KEY = "promote-key"
# The tiny cross-encoder as exported passes (reranked nDCG@10 0.6667 on the tiny set); the same
# weights read with max_length 8 lose the documents' words and fall below 0.6: a degraded candidate.
GATE = """
[tiny.test]
top_k = 5

[tiny.test.reranked]
min = { "ndcg@10" = 0.6 }
"""


@pytest.fixture
def world(
    tmp_path: Path,
    bucket: str,
    moto_client: S3Client,
    moto_endpoint: str,
    tiny_cross_encoder_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """Three published versions of tiny-ce (1 good, 2 degraded, 3 good), a dataset, a gate file."""
    monkeypatch.setenv("RERANK_CACHE_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("RERANK_RUNTIME", "onnxruntime")
    monkeypatch.setenv("RERANK_S3_RETRY_BASE_SECONDS", "0")
    root = f"s3://{bucket}/models"
    for version, max_length in (("1", 128), ("2", 8), ("3", 16)):
        folder = copy_model(
            tiny_cross_encoder_dir, tmp_path / f"v{version}", version=version, max_length=max_length
        )
        publish_model(folder, root, moto_client)
    gate = tmp_path / "gates.toml"
    gate.write_text(GATE)
    return {
        "root": root,
        "alias": f"{root}/tiny-ce@prod",
        "dataset": write_beir(tmp_path / "tiny"),
        "gate": gate,
        "cache": tmp_path / "eval-cache",
        "endpoint": moto_endpoint,
        "store": S3AliasStore(moto_client, S3Location(bucket, "models")),
        "client": moto_client,
        "bucket": bucket,
        "tmp": tmp_path,
    }


def promote(world: dict[str, Any], version: str, *extra: str) -> int:
    args = ["models", "promote", world["alias"], version, "--gate", str(world["gate"])]
    args += ["--dataset", str(world["dataset"]), "--by", "ci", "--cache-dir", str(world["cache"])]
    return main([*args, "--endpoint-url", world["endpoint"], *extra])


def serve(world: dict[str, Any]) -> TestClient:
    cache.forget_all()  # a new process: the alias is resolved again at load
    settings = Settings(
        models={"tiny-ce": world["alias"]},
        api_keys=[SecretStr(KEY)],
        cache_dir=world["tmp"] / "serve-cache",
        runtime="onnxruntime",
        s3_endpoint_url=world["endpoint"],
        s3_region="us-east-1",
        s3_retry_base_seconds=0.0,
    )
    return TestClient(create_app(settings))


def rerank(client: TestClient) -> Any:
    body = {"model": "tiny-ce", "query": "cat", "documents": ["a cat", "a dog"]}
    return client.post("/v1/rerank", json=body, headers={"Authorization": f"Bearer {KEY}"})


def files_under(folder: Path) -> dict[str, bytes]:
    """Return every file under `folder` with its bytes, to show that nothing was written."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def alias_bytes(world: dict[str, Any]) -> bytes:
    answer = world["client"].get_object(Bucket=world["bucket"], Key="models/tiny-ce/aliases/prod.json")
    body: bytes = answer["Body"].read()
    return body


@pytest.mark.slow
def test_the_gated_loop_end_to_end(world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert promote(world, "1") == 0
    out = capsys.readouterr().out
    assert "GATE PASSED" in out and "promoted tiny-ce@prod -> version 1 (new alias); gate passed" in out

    with serve(world) as client:
        answer = rerank(client)
        assert answer.status_code == 200, answer.text
        record = parse_record(alias_bytes(world), "alias")
        assert answer.headers["X-Model-Version"] == "1"
        assert answer.headers["X-Model-Fingerprint"] == record.fingerprint
        card = client.get("/v1/models", headers={"Authorization": f"Bearer {KEY}"}).json()["data"][0]
        assert (card["version"], card["store_alias"], card["fingerprint"]) == (
            "1",
            "prod",
            record.fingerprint,
        )

    before = alias_bytes(world)
    assert promote(world, "2") == 1  # the degraded candidate
    captured = capsys.readouterr()
    assert re.search(r"FAIL  reranked ndcg@10 = 0\.5\d+ < 0\.6000 \(min\)", captured.out)
    assert "refused: the gate failed for tiny-ce version 2; tiny-ce@prod is unchanged" in captured.err
    assert alias_bytes(world) == before

    assert promote(world, "3") == 0
    capsys.readouterr()
    runs = world["cache"] / "gate-runs"
    before_rollback = files_under(runs)
    assert promote(world, "1") == 0  # rollback, gated again: version 1's report is reused
    assert "was 3" in (out := capsys.readouterr().out) and "report reused" in out
    assert files_under(runs) == before_rollback  # reused, not remade (was: the rollback took < 5 s)

    with serve(world) as client:
        assert rerank(client).headers["X-Model-Version"] == "1"

    assert promote(world, "2", "--force") == 2  # a forced move needs a reason
    assert promote(world, "2", "--force", "--reason", "incident 7: test the degraded one") == 0
    history = [r for r in world["store"].history("tiny-ce", "prod")]
    assert [(r.seq, r.version, r.forced) for r in history] == [
        (1, "1", False),
        (2, "3", False),
        (3, "1", False),
        (4, "2", True),
    ]
    assert history[2].previous is not None and history[2].previous["version"] == "3"
    assert history[2].gate is not None and history[2].gate["sha256"] and history[2].gate["passed"] is True
    assert history[2].gate["metrics"]["reranked"]["ndcg@10"] >= 0.6
    assert history[3].reason == "incident 7: test the degraded one" and history[3].gate["passed"] is None
    capsys.readouterr()
    assert main(["models", "history", world["alias"], "--endpoint-url", world["endpoint"]]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5


@pytest.mark.slow
def test_a_report_of_another_gate_file_or_model_is_refused(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert promote(world, "1") == 0
    runs = sorted((world["cache"] / "gate-runs").iterdir())
    assert len(runs) == 1
    assert promote(world, "3", "--report", str(runs[0])) == 1
    assert "refused: the report was made by model fingerprint" in capsys.readouterr().err
    world["gate"].write_text(GATE + "\n# edited\n")
    assert promote(world, "1", "--report", str(runs[0])) == 1
    assert "was gated with another gate file" in capsys.readouterr().err


def test_bad_aliases_are_one_clear_503_and_nothing_changes(world: dict[str, Any]) -> None:
    key = "models/tiny-ce/aliases/prod.json"
    put = world["client"].put_object
    with serve(world) as client:
        assert "has no alias 'prod'" in rerank(client).json()["error"]["message"]
    good: dict[str, Any] = {
        "model": "tiny-ce",
        "alias": "prod",
        "version": "9",
        "fingerprint": "f" * 64,
        "variant": "int8",
    }
    good |= {"seq": 1, "at": "now", "by": "me"}
    put(Bucket=world["bucket"], Key=key, Body=json.dumps(good).encode())
    with serve(world) as client:
        error = rerank(client).json()["error"]
        assert error["type"] == "model_unavailable"
        assert "the alias names version '9', which is not published" in error["message"]
    put(Bucket=world["bucket"], Key=key, Body=json.dumps(good | {"version": "1"}).encode())  # hand-edited
    with serve(world) as client:
        assert (
            "the alias object was edited or the version republished"
            in rerank(client).json()["error"]["message"]
        )
    put(Bucket=world["bucket"], Key=key, Body=b"{not json")
    with serve(world) as client:
        message = rerank(client).json()["error"]["message"]
        assert "alias object tiny-ce@prod is corrupted" in message and world["bucket"] not in message


def _record(version: str, seq: int) -> Any:
    from reranker.model_store.aliases import AliasRecord

    return AliasRecord("tiny-ce", "prod", version, "f" * 64, "int8", seq, "now", "me")


def test_concurrent_moves_cannot_both_win_on_s3_and_in_a_folder(
    world: dict[str, Any], tmp_path: Path
) -> None:
    for store in (world["store"], LocalAliasStore(tmp_path / "root")):
        store.move(_record("1", 1), None)
        with pytest.raises(AliasConflict, match="moved while this promotion ran: it now names version 1"):
            store.move(_record("3", 1), None)  # a second first promotion (IfNoneMatch: *)
        found = store.read("tiny-ce", "prod")
        assert found is not None
        token = found[1]
        store.move(_record("3", 2), token)  # one of two promotions that read the same ETag wins...
        with pytest.raises(AliasConflict, match="it now names version 3"):
            store.move(_record("2", 2), token)  # ... the other is told, and writes nothing
        assert [r.version for r in store.history("tiny-ce", "prod")] == ["1", "3"]


def test_a_move_stopped_before_its_history_copy_is_still_in_the_history(
    world: dict[str, Any], tmp_path: Path
) -> None:
    local = LocalAliasStore(tmp_path / "root")
    copies: dict[str, Any] = {
        "s3": (
            lambda seq: world["client"].delete_object(
                Bucket=world["bucket"], Key=f"models/tiny-ce/aliases/prod.history/{seq:06d}.json"
            ),
            lambda: sorted(
                item["Key"].rsplit("/", 1)[-1]
                for item in world["client"]
                .list_objects_v2(Bucket=world["bucket"], Prefix="models/tiny-ce/aliases/prod.history/")
                .get("Contents", [])
            ),
        ),
        "folder": (
            lambda seq: (tmp_path / "root/tiny-ce/aliases/prod.history" / f"{seq:06d}.json").unlink(),
            lambda: sorted(p.name for p in (tmp_path / "root/tiny-ce/aliases/prod.history").iterdir()),
        ),
    }
    for store, (lose_copy, copies_on_disk) in ((world["store"], copies["s3"]), (local, copies["folder"])):
        store.move(_record("1", 1), None)
        lose_copy(1)  # as if the promotion stopped between the alias and its history copy
        assert copies_on_disk() == []
        assert [(r.seq, r.version) for r in store.history("tiny-ce", "prod")] == [(1, "1")]
        found = store.read("tiny-ce", "prod")
        assert found is not None
        store.move(_record("3", 2), found[1])
        assert copies_on_disk() == ["000001.json", "000002.json"]  # the next move wrote the lost copy
        assert [(r.seq, r.version) for r in store.history("tiny-ce", "prod")] == [(1, "1"), (2, "3")]


def test_an_alias_read_cut_by_the_network_is_retried(world: dict[str, Any]) -> None:
    world["store"].move(_record("1", 1), None)
    port = int(world["endpoint"].rsplit(":", 1)[1])
    root = S3Location(world["bucket"], "models")
    with CuttableProxy(port, cut_after=40, cuts=1) as proxy:  # the first answer dies in its headers
        once = S3AliasStore(s3_client(proxy.endpoint), root)  # botocore's own retries are off
        with pytest.raises(Exception, match="alias tiny-ce@prod cannot be read from the model store"):
            once.read("tiny-ce", "prod")
    with CuttableProxy(port, cut_after=40, cuts=1) as proxy:
        retrying = S3AliasStore(s3_client(proxy.endpoint), root, attempts=3, retry_base_seconds=0)
        found = retrying.read("tiny-ce", "prod")
        assert proxy.cuts_made == 1
    assert found is not None and (found[0].version, found[0].seq) == ("1", 1)
