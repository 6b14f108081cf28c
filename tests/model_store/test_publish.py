"""Publishing to and listing the real S3 API (moto server): layout, order, multipart, no overwrite."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from reranker.errors import ConfigurationError, ModelUnavailable
from reranker.manifest import file_entry
from reranker.model_store.publish import PublishedModel, list_models, publish_model
from reranker.model_store.s3 import S3ModelStore
from tests.fixtures.moto_server import s3_client
from tests.model_store.conftest import ROOT, CallLog, copy_model, serving, store_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MB = 1024 * 1024


def with_extra_file(model_dir: Path, target: Path, name: str, size: int) -> Path:
    """Return a copy of the model folder whose manifest also lists a large extra file."""
    shutil.copytree(model_dir, target)
    extra = target / name
    extra.parent.mkdir(parents=True, exist_ok=True)
    extra.write_bytes(os.urandom(size))
    manifest = json.loads((target / "model.json").read_text())
    manifest["files"][name] = file_entry(extra).model_dump()
    (target / "model.json").write_text(json.dumps(manifest, indent=2))
    return target


def test_publish_writes_the_layout_and_returns_the_uri_to_serve(
    bucket: str, moto_client: S3Client, model_dir: Path
) -> None:
    published = publish_model(model_dir, f"s3://{bucket}/{ROOT}/", moto_client)
    manifest = json.loads((model_dir / "model.json").read_text())
    assert published == PublishedModel(
        name="tiny-ce",
        version=manifest["version"],
        kind="cross-encoder",
        size=sum(entry["size"] for entry in manifest["files"].values()),
        uri=f"s3://{bucket}/{ROOT}/tiny-ce/{manifest['version']}",
        aliases=tuple(manifest["aliases"]),
        variants=tuple(manifest["variants"]),
    )
    keys = sorted(item["Key"] for item in moto_client.list_objects_v2(Bucket=bucket)["Contents"])
    prefix = f"{ROOT}/tiny-ce/{manifest['version']}"
    assert keys == sorted([f"{prefix}/model.json", *(f"{prefix}/{name}" for name in manifest["files"])])
    for name in manifest["files"]:
        body = moto_client.get_object(Bucket=bucket, Key=f"{prefix}/{name}")["Body"].read()
        assert body == (model_dir / name).read_bytes()


def test_the_manifest_goes_up_last(bucket: str, moto_endpoint: str, model_dir: Path) -> None:
    client = s3_client(moto_endpoint)
    log = CallLog(client)
    published = publish_model(model_dir, f"s3://{bucket}/{ROOT}", client)
    prefix = published.uri.split("/", 3)[3] + "/"
    # Names relative to the model's prefix: the OpenVINO IR files sit in a subfolder.
    writes = [
        key.removeprefix(prefix) for op, key in log.calls if op in ("PutObject", "CreateMultipartUpload")
    ]
    assert writes[-1] == "model.json" and writes.count("model.json") == 1
    assert sorted(writes[:-1]) == sorted(json.loads((model_dir / "model.json").read_text())["files"])


def test_large_files_go_up_in_parts_and_come_back_whole(
    bucket: str, moto_endpoint: str, model_dir: Path, tmp_path: Path
) -> None:
    folder = with_extra_file(model_dir, tmp_path / "big", "assets/extra.bin", 11 * MB)
    client = s3_client(moto_endpoint)
    log = CallLog(client)
    published = publish_model(folder, f"s3://{bucket}/{ROOT}", client, part_bytes=5 * MB)
    assert log.count("CreateMultipartUpload", "assets/extra.bin") == 1
    assert log.count("UploadPart", "assets/extra.bin") == 3
    head = client.head_object(Bucket=bucket, Key=f"{ROOT}/tiny-ce/{published.version}/assets/extra.bin")
    assert head["ContentLength"] == 11 * MB and head["ETag"].strip('"').endswith("-3")
    # Fetched back through the store, the parts join into the file the manifest describes.
    local = S3ModelStore(store_settings(tmp_path / "cache", moto_endpoint), client=client).fetch(
        published.uri, label="tiny-ce", files=serving(store_settings(tmp_path / "cache", moto_endpoint))
    )
    assert file_entry(local.folder / "assets/extra.bin") == file_entry(folder / "assets/extra.bin")


def test_an_existing_version_is_refused_unless_forced(
    bucket: str, moto_client: S3Client, model_dir: Path
) -> None:
    root = f"s3://{bucket}/{ROOT}"
    publish_model(model_dir, root, moto_client)
    with pytest.raises(ConfigurationError, match="already published there; pass --force"):
        publish_model(model_dir, root, moto_client)
    assert publish_model(model_dir, root, moto_client, force=True).name == "tiny-ce"


def test_a_publish_that_dies_half_way_leaves_the_version_invisible(
    bucket: str, moto_endpoint: str, model_dir: Path, tmp_path: Path
) -> None:
    client = s3_client(moto_endpoint)
    graph = json.loads((model_dir / "model.json").read_text())["variants"]["fp32"]

    def fail_on_the_graph(params: dict[str, Any], **_: Any) -> None:
        if str(params.get("Key", "")).endswith(f"/{graph}"):
            raise ConnectionResetError("network gone")

    client.meta.events.register("before-parameter-build.s3.PutObject", fail_on_the_graph)
    with pytest.raises(ModelUnavailable, match="publishing model tiny-ce/1 failed") as err:
        publish_model(model_dir, f"s3://{bucket}/{ROOT}", client)
    assert bucket not in err.value.message
    reader = s3_client(moto_endpoint)
    assert list_models(f"s3://{bucket}/{ROOT}", reader) == []
    store = S3ModelStore(store_settings(tmp_path / "cache", moto_endpoint), client=reader)
    with pytest.raises(ModelUnavailable, match="not published"):
        store.fetch(
            f"s3://{bucket}/{ROOT}/tiny-ce/1",
            label="tiny-ce",
            files=serving(store_settings(tmp_path / "cache", moto_endpoint)),
        )


def test_publish_verifies_the_local_files_first(
    bucket: str, moto_client: S3Client, model_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "tokenizer.json").write_text("{}")
    with pytest.raises(ModelUnavailable, match=r"'tokenizer\.json' fails its sha256 check"):
        publish_model(broken, f"s3://{bucket}/{ROOT}", moto_client)
    assert "Contents" not in moto_client.list_objects_v2(Bucket=bucket)


def test_list_shows_every_published_version_and_skips_the_rest(
    bucket: str, moto_client: S3Client, model_dir: Path, tmp_path: Path
) -> None:
    second = tmp_path / "v2"
    copy_model(model_dir, second, version="2")
    manifest = json.loads((second / "model.json").read_text())
    root = f"s3://{bucket}/{ROOT}"
    publish_model(model_dir, root, moto_client)
    publish_model(second, root, moto_client)
    moto_client.put_object(Bucket=bucket, Key=f"{ROOT}/junk/1/model.json", Body=b"not json")
    moto_client.put_object(Bucket=bucket, Key=f"{ROOT}/half/1/model.onnx", Body=b"x")
    moto_client.put_object(Bucket=bucket, Key="elsewhere/tiny-ce/9/model.json", Body=b"{}")

    models = list_models(root, moto_client)
    size = sum(entry["size"] for entry in manifest["files"].values())
    assert [(m.name, m.version, m.kind, m.size, m.uri) for m in models] == [
        ("tiny-ce", "1", "cross-encoder", size, f"{root}/tiny-ce/1"),
        ("tiny-ce", "2", "cross-encoder", size, f"{root}/tiny-ce/2"),
    ]
    assert list_models(f"s3://{bucket}/nothing-here", moto_client) == []


def test_a_missing_bucket_is_a_clear_error(moto_client: S3Client, model_dir: Path) -> None:
    with pytest.raises(ModelUnavailable, match="the bucket does not exist"):
        list_models("s3://no-such-bucket-here/models", moto_client)
    with pytest.raises(ModelUnavailable, match="the bucket does not exist"):
        publish_model(model_dir, "s3://no-such-bucket-here/models", moto_client)


def test_a_bad_root_uri_is_refused(moto_client: S3Client, model_dir: Path) -> None:
    with pytest.raises(ConfigurationError, match="segment"):
        publish_model(model_dir, "s3://bucket/a/../b", moto_client)
