"""S3ModelStore against the real S3 API (moto server on loopback), with real exported models."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from reranker.config import Settings
from reranker.errors import ModelUnavailable
from reranker.manifest import file_entry, parse_manifest
from reranker.model_store import cache
from reranker.model_store.base import LocalModel
from reranker.model_store.publish import publish_model
from reranker.model_store.s3 import S3ModelStore, destination_in
from reranker.registry import runtime_options
from reranker.scoring.graph_choice import probe_openvino
from reranker.scoring.loader import load_scorer
from tests.fixtures.moto_server import s3_client
from tests.model_store.conftest import ROOT, CallLog, copy_model, serving, store_settings
from tests.model_store.tcp_proxy import CuttableProxy

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LABEL = "tiny-ce"


def port_of(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def cache_entries(cache_dir: Path) -> list[str]:
    return sorted(p.name for p in cache_dir.iterdir()) if cache_dir.exists() else []


def assert_no_leak(message: str, bucket: str) -> None:
    assert bucket not in message and "s3://" not in message and "127.0.0.1" not in message
    assert "/tmp" not in message and ROOT not in message


def test_fetch_downloads_the_served_variant_verified_into_the_cache(
    published_uri: str, model_dir: Path, cache_dir: Path, moto_endpoint: str
) -> None:
    client = s3_client(moto_endpoint)
    log = CallLog(client)
    store = S3ModelStore(store_settings(cache_dir, moto_endpoint, precision="int8"), client=client)
    local = store.fetch(
        published_uri, label=LABEL, files=serving(store_settings(cache_dir, moto_endpoint, precision="int8"))
    )

    manifest = parse_manifest((model_dir / "model.json").read_bytes(), origin="test")
    assert local.manifest == manifest
    assert local.folder.parent == cache_dir.resolve()
    assert local.folder.name.endswith("-tiny-ce-1")
    # Only what int8 serving opens: the fp32 graph stays in the bucket.
    wanted = {"model.json", manifest.tokenizer, manifest.variants["int8"]}
    assert {p.name for p in local.folder.iterdir()} == wanted
    for name in wanted - {"model.json"}:
        assert file_entry(local.folder / name) == manifest.files[name]
    assert (local.folder / "model.json").read_bytes() == (model_dir / "model.json").read_bytes()
    assert log.count("GetObject") == 3 and log.count("GetObject", "model.json") == 1
    assert cache_entries(cache_dir) == [local.folder.name]

    # A warm process asks again: the same folder, no S3 call at all.
    calls = len(log.calls)
    assert (
        store.fetch(
            published_uri,
            label=LABEL,
            files=serving(store_settings(cache_dir, moto_endpoint, precision="int8")),
        )
        == local
    )
    assert len(log.calls) == calls


def test_the_fp32_setting_fetches_the_fp32_graph(
    published_uri: str, cache_dir: Path, moto_endpoint: str
) -> None:
    store = S3ModelStore(
        store_settings(cache_dir, moto_endpoint, precision="fp32"), client=s3_client(moto_endpoint)
    )
    local = store.fetch(
        published_uri, label=LABEL, files=serving(store_settings(cache_dir, moto_endpoint, precision="fp32"))
    )
    assert local.manifest.variants["fp32"] in {p.name for p in local.folder.iterdir()}
    assert local.manifest.variants["int8"] not in {p.name for p in local.folder.iterdir()}


IR_XML = "openvino/model.int8.xml"
IR_BIN = "openvino/model.int8.bin"


@pytest.mark.parametrize(
    ("backend", "variant", "graphs", "served"),
    [
        ("openvino", "int8", {IR_XML, IR_BIN}, "int8-static"),
        ("auto", "int8", {"model.int8.onnx"}, "int8"),
        ("openvino", "fp32", {"model.onnx"}, "fp32"),
        pytest.param(
            "openvino",
            "bf16",
            {"model.onnx"},
            "bf16",
            marks=pytest.mark.skipif(
                not probe_openvino().bf16,
                reason="bf16 needs openvino and a CPU with BF16 instructions (AVX512_BF16 or AMX)",
            ),
        ),
        ("onnxruntime", "int8", {"model.int8.onnx"}, "int8"),
    ],
)
def test_only_the_chosen_runtimes_graph_is_downloaded(
    published_uri: str,
    cache_dir: Path,
    moto_endpoint: str,
    backend: str,
    variant: str,
    graphs: set[str],
    served: str,
) -> None:
    client = s3_client(moto_endpoint)
    log = CallLog(client)
    settings = store_settings(cache_dir, moto_endpoint, runtime=backend, precision=variant)
    local = S3ModelStore(settings, client=client).fetch(published_uri, label=LABEL, files=serving(settings))
    manifest = local.manifest
    assert manifest.openvino == {"int8": IR_XML}
    every_graph = {*manifest.variants.values(), IR_XML, IR_BIN}
    expected = {"model.json", *(set(manifest.files) - every_graph), *graphs}
    got = {p.relative_to(local.folder).as_posix() for p in local.folder.rglob("*") if p.is_file()}
    assert got == expected
    assert log.count("GetObject") == len(expected)
    # What was fetched is enough to serve: the loader opens the same graph.
    assert load_scorer(local.folder, manifest, runtime_options(settings)).variant == served


def test_an_unservable_backend_setting_fails_before_any_download(
    bucket: str, moto_client: S3Client, model_dir: Path, cache_dir: Path, moto_endpoint: str, tmp_path: Path
) -> None:
    """A folder exported before the static int8 IR: no graph for openvino int8."""
    old = tmp_path / "tiny-ce"
    shutil.copytree(model_dir, old)
    manifest = json.loads((old / "model.json").read_text())
    del manifest["openvino"], manifest["files"][IR_XML], manifest["files"][IR_BIN]
    manifest["export"].pop("static_int8", None)
    (old / "model.json").write_text(json.dumps(manifest))
    shutil.rmtree(old / "openvino")
    uri = publish_model(old, f"s3://{bucket}/old-{ROOT}", moto_client).uri
    client = s3_client(moto_endpoint)
    log = CallLog(client)
    settings: Settings = store_settings(cache_dir, moto_endpoint, runtime="openvino", precision="int8")
    with pytest.raises(ModelUnavailable) as raised:
        S3ModelStore(settings, client=client).fetch(uri, label=LABEL, files=serving(settings))
    assert "has no OpenVINO static int8 graph" in raised.value.message
    assert "RERANK_RUNTIME=onnxruntime" in raised.value.message
    assert log.count("GetObject") == 1
    assert [p for p in cache_entries(cache_dir) if not p.startswith(".")] == []


def test_many_concurrent_first_requests_cause_one_download(
    published_uri: str, cache_dir: Path, moto_endpoint: str
) -> None:
    # Two stores with their own clients (as two registries in one process would have).
    clients = [s3_client(moto_endpoint), s3_client(moto_endpoint)]
    log = CallLog(*clients)
    settings = store_settings(cache_dir, moto_endpoint)
    stores = [S3ModelStore(settings, client=client) for client in clients]
    start = threading.Barrier(8)
    results: list[LocalModel] = []
    errors: list[BaseException] = []

    def first_request(index: int) -> None:
        start.wait(10)
        try:
            results.append(stores[index % 2].fetch(published_uri, label=LABEL, files=serving(settings)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_request, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(results) == 8 and len({r.folder for r in results}) == 1
    manifest = results[0].manifest
    for name in ("model.json", manifest.tokenizer, manifest.variants["int8"]):
        assert log.count("GetObject", f"/{name}") == 1, name
    assert log.count("GetObject") == 3


def test_a_new_process_reverifies_the_cached_folder_instead_of_downloading(
    published_uri: str, cache_dir: Path, moto_endpoint: str
) -> None:
    settings = store_settings(cache_dir, moto_endpoint)
    first = S3ModelStore(settings, client=s3_client(moto_endpoint)).fetch(
        published_uri, label=LABEL, files=serving(settings)
    )
    cache.forget_all()  # what a restarted process on a warm Lambda /tmp sees
    client = s3_client(moto_endpoint)
    log = CallLog(client)
    again = S3ModelStore(settings, client=client).fetch(published_uri, label=LABEL, files=serving(settings))
    assert again == first
    assert log.calls == [("GetObject", f"{published_uri.split('/', 3)[3]}/model.json")]


def test_a_tampered_cache_is_downloaded_again(
    published_uri: str, cache_dir: Path, moto_endpoint: str
) -> None:
    settings = store_settings(cache_dir, moto_endpoint)
    local = S3ModelStore(settings, client=s3_client(moto_endpoint)).fetch(
        published_uri, label=LABEL, files=serving(settings)
    )
    graph = local.folder / local.manifest.variants["int8"]
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    cache.forget_all()
    client = s3_client(moto_endpoint)
    log = CallLog(client)
    again = S3ModelStore(settings, client=client).fetch(published_uri, label=LABEL, files=serving(settings))
    assert again.folder == local.folder
    assert file_entry(graph) == local.manifest.files[local.manifest.variants["int8"]]
    assert log.count("GetObject", local.manifest.variants["int8"]) == 1
    assert cache_entries(cache_dir) == [local.folder.name]


def test_a_force_republished_version_replaces_the_stale_cache(
    published_uri: str,
    bucket: str,
    moto_client: S3Client,
    model_dir: Path,
    cache_dir: Path,
    moto_endpoint: str,
) -> None:
    settings = store_settings(cache_dir, moto_endpoint)
    old = S3ModelStore(settings, client=s3_client(moto_endpoint)).fetch(
        published_uri, label=LABEL, files=serving(settings)
    )
    changed = cache_dir.parent / "changed"
    copy_model(model_dir, changed, source="retrained")
    publish_model(changed, f"s3://{bucket}/{ROOT}", moto_client, force=True)
    cache.forget_all()
    new = S3ModelStore(settings, client=s3_client(moto_endpoint)).fetch(
        published_uri, label=LABEL, files=serving(settings)
    )
    assert new.folder == old.folder and new.manifest.source == "retrained"
    assert json.loads((new.folder / "model.json").read_text())["source"] == "retrained"
    assert cache_entries(cache_dir) == [new.folder.name]


def test_an_unreachable_store_falls_back_to_a_verified_cached_copy(
    published_uri: str, cache_dir: Path, moto_endpoint: str
) -> None:
    settings = store_settings(cache_dir, moto_endpoint)
    cached = S3ModelStore(settings, client=s3_client(moto_endpoint)).fetch(
        published_uri, label=LABEL, files=serving(settings)
    )
    cache.forget_all()
    with CuttableProxy(port_of(moto_endpoint), cut_after=0, cuts=0) as proxy:
        endpoint = proxy.endpoint
    down = S3ModelStore(settings, client=s3_client(endpoint))
    assert down.fetch(published_uri, label=LABEL, files=serving(settings)) == cached


def test_a_corrupted_object_is_refused_and_leaves_the_cache_clean(
    published_uri: str, bucket: str, moto_client: S3Client, cache_dir: Path, moto_endpoint: str
) -> None:
    prefix = published_uri.split("/", 3)[3]
    key = f"{prefix}/model.int8.onnx"
    data = bytearray(moto_client.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[100] ^= 0xFF
    moto_client.put_object(Bucket=bucket, Key=key, Body=bytes(data))
    store = S3ModelStore(store_settings(cache_dir, moto_endpoint), client=s3_client(moto_endpoint))
    with pytest.raises(
        ModelUnavailable, match=r"model 'tiny-ce' file 'model\.int8\.onnx' fails its sha256 check"
    ) as err:
        store.fetch(published_uri, label=LABEL, files=serving(store_settings(cache_dir, moto_endpoint)))
    assert_no_leak(err.value.message, bucket)
    assert cache_entries(cache_dir) == []


def test_a_cut_mid_download_is_retried_and_the_model_arrives_whole(
    published_uri: str, cache_dir: Path, moto_endpoint: str
) -> None:
    with CuttableProxy(port_of(moto_endpoint), cut_after=20_000, cuts=1) as proxy:
        client = s3_client(proxy.endpoint)
        log = CallLog(client)
        store = S3ModelStore(store_settings(cache_dir, moto_endpoint), client=client)
        local = store.fetch(
            published_uri, label=LABEL, files=serving(store_settings(cache_dir, moto_endpoint))
        )
    assert proxy.cuts_made == 1
    assert log.count("GetObject") == 3 + 1  # one file was asked for twice
    for name in (local.manifest.tokenizer, local.manifest.variants["int8"]):
        assert file_entry(local.folder / name) == local.manifest.files[name]
    assert cache_entries(cache_dir) == [local.folder.name]


def test_the_server_going_away_mid_download_is_retried_then_503(
    published_uri: str, bucket: str, cache_dir: Path, moto_endpoint: str
) -> None:
    settings = store_settings(cache_dir, moto_endpoint, s3_max_attempts=3)
    with CuttableProxy(port_of(moto_endpoint), cut_after=20_000, stop_on_cut=True) as proxy:
        client = s3_client(proxy.endpoint)
        log = CallLog(client)
        store = S3ModelStore(settings, client=client)
        with pytest.raises(ModelUnavailable, match="did not answer reliably") as err:
            store.fetch(published_uri, label=LABEL, files=serving(settings))
    assert proxy.cuts_made == 1
    assert_no_leak(err.value.message, bucket)
    cut_key = [key for op, key in log.calls if op == "GetObject"][-1]
    # Attempt 1 got its GetObject cut; attempts 2 and 3 found no server (refused at HeadObject).
    assert log.count("GetObject", cut_key) == 1
    assert log.count("HeadObject", cut_key) == 3
    assert cache_entries(cache_dir) == []


def test_a_missing_manifest_is_503_not_published(
    bucket: str, moto_client: S3Client, cache_dir: Path, moto_endpoint: str
) -> None:
    # Files without a manifest: what a publish that died half way leaves behind.
    moto_client.put_object(Bucket=bucket, Key=f"{ROOT}/half/1/model.onnx", Body=b"x")
    store = S3ModelStore(store_settings(cache_dir, moto_endpoint), client=s3_client(moto_endpoint))
    for uri in (f"s3://{bucket}/{ROOT}/half/1", f"s3://{bucket}/{ROOT}/never/1"):
        with pytest.raises(
            ModelUnavailable, match="'half' is not published at its configured S3 location"
        ) as err:
            store.fetch(uri, label="half", files=serving(store_settings(cache_dir, moto_endpoint)))
        assert_no_leak(err.value.message, bucket)
    assert cache_entries(cache_dir) == []


@pytest.mark.parametrize(
    "bad_name", ["../escape.onnx", "../../etc/cron.d/x", "/abs/model.onnx", "a\\..\\b.onnx"]
)
def test_a_manifest_naming_a_file_outside_its_prefix_is_refused(
    bad_name: str, bucket: str, moto_client: S3Client, model_dir: Path, cache_dir: Path, moto_endpoint: str
) -> None:
    manifest = json.loads((model_dir / "model.json").read_text())
    graph = manifest["variants"]["int8"]
    manifest["files"][bad_name] = manifest["files"].pop(graph)
    manifest["variants"]["int8"] = bad_name
    moto_client.put_object(Bucket=bucket, Key=f"{ROOT}/evil/1/model.json", Body=json.dumps(manifest).encode())
    client = s3_client(moto_endpoint)
    log = CallLog(client)
    store = S3ModelStore(store_settings(cache_dir, moto_endpoint), client=client)
    with pytest.raises(ModelUnavailable, match="relative path inside the model folder") as err:
        store.fetch(
            f"s3://{bucket}/{ROOT}/evil/1",
            label="evil",
            files=serving(store_settings(cache_dir, moto_endpoint)),
        )
    assert err.value.message.startswith("model 'evil' cannot be served")
    assert log.calls == [("GetObject", f"{ROOT}/evil/1/model.json")]
    assert cache_entries(cache_dir) == [] and not (cache_dir.parent / "escape.onnx").exists()


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/x"])
def test_no_file_name_can_be_written_outside_the_temp_folder(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outside the model folder"):
        destination_in(tmp_path / "t", name)
    assert (
        destination_in(tmp_path / "t", "sub/model.onnx") == (tmp_path / "t" / "sub" / "model.onnx").resolve()
    )


def test_an_invalid_uri_is_503_naming_the_model(cache_dir: Path, moto_endpoint: str) -> None:
    store = S3ModelStore(store_settings(cache_dir, moto_endpoint), client=s3_client(moto_endpoint))
    with pytest.raises(ModelUnavailable, match="model 'x' has an invalid S3 URI"):
        store.fetch("s3://bucket/a/../b", label="x", files=serving(store_settings(cache_dir, moto_endpoint)))


def test_the_client_is_built_only_on_the_first_fetch(
    cache_dir: Path, published_uri: str, moto_endpoint: str
) -> None:
    built: list[int] = []

    def factory() -> S3Client:
        built.append(1)
        return s3_client(moto_endpoint)

    store = S3ModelStore(store_settings(cache_dir, moto_endpoint), client_factory=factory)
    assert built == []
    store.fetch(published_uri, label=LABEL, files=serving(store_settings(cache_dir, moto_endpoint)))
    store.client()
    assert built == [1]


def test_a_file_missing_from_the_store_is_503_naming_it(
    published_uri: str, bucket: str, moto_client: S3Client, cache_dir: Path, moto_endpoint: str
) -> None:
    moto_client.delete_object(Bucket=bucket, Key=f"{published_uri.split('/', 3)[3]}/tokenizer.json")
    store = S3ModelStore(store_settings(cache_dir, moto_endpoint), client=s3_client(moto_endpoint))
    with pytest.raises(ModelUnavailable) as err:
        store.fetch(published_uri, label=LABEL, files=serving(store_settings(cache_dir, moto_endpoint)))
    assert err.value.message == "model 'tiny-ce' is missing its file 'tokenizer.json' in the model store"
    assert cache_entries(cache_dir) == []


def test_an_unwritable_cache_is_503_naming_the_setting(
    published_uri: str, tmp_path: Path, moto_endpoint: str
) -> None:
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file where the cache folder should be")
    store = S3ModelStore(store_settings(not_a_folder, moto_endpoint), client=s3_client(moto_endpoint))
    with pytest.raises(ModelUnavailable) as err:
        store.fetch(published_uri, label=LABEL, files=serving(store_settings(not_a_folder, moto_endpoint)))
    assert err.value.message == (
        "model 'tiny-ce' cannot be stored in the local model cache (File exists); "
        "check RERANK_CACHE_DIR and its free space"
    )
