"""Build both container images and drive them end to end on this machine: `make image-smoke`.

No container registry is reachable here, so the images are built on stand-in bases
(infra/smoke/standin-bases.sh: Debian bookworm shaped like the AWS Lambda Python image, and a
CPU-only Debian for the CUDA base). That proves the Dockerfiles, the dependency closure and
the handler wiring, not Amazon Linux or CUDA.

- Lambda image (default model baked in): awslambdaric in the container long-polls a loopback
  Lambda Runtime API (tests/infra/runtime_api.py), which hands it real API Gateway HTTP API
  v2 events: health, a rerank, a 401 and a 400.
- GPU image on the CPU stand-in: `reranker serve` with the model published to a moto S3 server
  on loopback, fetched at start; the same four requests over HTTP. The CUDA path is untested.

Prints each image's size (and what our layers add to the base), the init time (container
start to ready), the first and a warm response time, and every response. Exits 1 when a
response is not what the API promises. Needs root, podman, buildah, runc and mmdebstrap.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from tests.events.test_handler import make_event  # noqa: E402
from tests.fixtures.moto_server import DUMMY_AWS_ENV, free_port  # noqa: E402
from tests.infra.runtime_api import Result, RuntimeApi  # noqa: E402

LAMBDA_BASE = "public.ecr.aws/lambda/python:3.12"
CUDA_STANDIN = "localhost/standin/cuda-cpu:bookworm"
LAMBDA_IMAGE = "localhost/reranker-lambda:smoke"
GPU_IMAGE = "localhost/reranker-gpu:smoke"
KEY = "smoke-test-key"
RUN_FLAGS = [
    "--runtime",
    "runc",
    "--network",
    "host",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
]
RERANK_BODY = {
    "model": "default",
    "query": "How do I deploy a model behind an API?",
    "documents": [
        "Billing lets you add balance and view your invoices.",
        "Deployments run a model behind an API endpoint you can call.",
        "The weather in Lisbon is mild in winter.",
    ],
    "top_n": 2,
    "return_documents": True,
}
BAD_BODY = {"model": "default", "query": "q", "documents": []}
Failures = list[str]


def podman_cmd() -> list[str]:
    """Return the podman command with this smoke's own vfs storage (kept apart from anyone else's)."""
    return shlex.split(os.environ.get("PODMAN", "podman")) + (
        []
        if "PODMAN" in os.environ
        else [
            "--root",
            "/var/tmp/reranker-podman/storage",
            "--runroot",
            "/var/tmp/reranker-podman/run",
            "--storage-driver",
            "vfs",
        ]
    )


def podman(*args: str, capture: bool = True, check: bool = True) -> str:
    result = subprocess.run(
        [*podman_cmd(), *args], capture_output=capture, text=True, check=False, stdin=subprocess.DEVNULL
    )
    if check and result.returncode != 0:
        raise SystemExit(f"podman {' '.join(args[:2])} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout if capture else ""


def image_exists(tag: str) -> bool:
    return subprocess.run([*podman_cmd(), "image", "exists", tag], check=False).returncode == 0


def image_size(tag: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", tag).strip())


def mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


def build(dockerfile: str, tag: str, build_args: dict[str, str]) -> float:
    """Build `dockerfile` from the repository root with its own ignore file; return seconds."""
    args = [f"--build-arg={name}={value}" for name, value in build_args.items()]
    started = time.perf_counter()
    print(f"== building {tag} from {dockerfile} {' '.join(args)}", flush=True)
    podman(
        "build",
        "--isolation",
        "chroot",
        "--layers",
        "--format",
        "docker",  # keeps HEALTHCHECK, as Docker's builder does (the OCI format drops it)
        "-f",
        dockerfile,
        "--ignorefile",
        f"{dockerfile}.dockerignore",
        *args,
        "-t",
        tag,
        str(REPO),
        capture=False,
    )
    return time.perf_counter() - started


def started_at(container: str) -> float:
    """Return when the container's process started (epoch seconds), from podman's record."""
    text = podman("inspect", "--format", "{{.State.StartedAt}}", container).strip()
    # e.g. "2026-12-02 19:52:01.123456789 +0000 UTC": keep microseconds for fromisoformat.
    day, clock, offset = text.split()[:3]
    whole, _, fraction = clock.partition(".")
    stamp = f"{day}T{whole}.{(fraction or '0')[:6].ljust(6, '0')}{offset[:3]}:{offset[3:]}"
    return datetime.fromisoformat(stamp).timestamp()


@contextmanager
def container(
    image: str, env: dict[str, str], command: list[str] | None = None, extra: list[str] | None = None
) -> Iterator[str]:
    """Run `image` detached on the host network; yield its id; print its log and remove it after."""
    env_args = [f"--env={name}={value}" for name, value in env.items()]
    cid = podman("run", "-d", *RUN_FLAGS, *(extra or []), *env_args, image, *(command or [])).strip()
    try:
        yield cid
    finally:
        logs = subprocess.run([*podman_cmd(), "logs", cid], capture_output=True, text=True, check=False)
        print("-- container log (last 15 lines):")
        for line in (logs.stdout + logs.stderr).splitlines()[-15:]:
            print("   " + line[:300])
        podman("rm", "-f", "-t", "2", cid, check=False)


def short(body: Any, limit: int = 420) -> str:
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    return text if len(text) <= limit else text[:limit] + "..."


def expect(failures: Failures, label: str, status: int, body: Any, check: Callable[[int, Any], bool]) -> None:
    ok = check(status, body)
    print(f"   {label}: {status} {short(body)}  [{'ok' if ok else 'UNEXPECTED'}]")
    if not ok:
        failures.append(label)


def rerank_ok(status: int, body: Any) -> bool:
    results = body.get("results", []) if isinstance(body, dict) else []
    return (
        status == 200
        and [r["index"] for r in results][:1] == [1]
        and len(results) == 2
        and results[0]["document"]["text"].startswith("Deployments")
        and results[0]["relevance_score"] > results[1]["relevance_score"]
    )


def error_is(kind: str, code: int) -> Callable[[int, Any], bool]:
    return lambda status, body: status == code and body.get("error", {}).get("type") == kind


def health_ok(status: int, body: Any) -> bool:
    return status == 200 and isinstance(body, dict) and body.get("status") == "ok"


# --- Lambda image -----------------------------------------------------------------------------


def v2_event(method: str, path: str, body: dict[str, Any] | None, key: str | None) -> dict[str, Any]:
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    return make_event("apigw-http-v2", method, path, json.dumps(body).encode() if body else None, headers)


def lambda_answer(result: Result) -> tuple[int, Any]:
    """Return (status, JSON body) of a Mangum response posted to the Runtime API."""
    if result.kind != "response":
        return 0, {"invocation_error": result.error_type, "body": result.body}
    payload = result.body
    body = payload.get("body") or ""
    try:
        return int(payload["statusCode"]), json.loads(body)
    except ValueError:
        return int(payload["statusCode"]), body


def smoke_lambda(failures: Failures) -> dict[str, float]:
    print("== Lambda image: awslambdaric <-> loopback Runtime API, API Gateway HTTP API v2 events")
    figures: dict[str, float] = {}
    env = {
        "RERANK_MODELS": json.dumps({"all-minilm-l6-v2": "/opt/reranker/model"}),
        "RERANK_ALIASES": json.dumps({"default": "all-minilm-l6-v2"}),
        "RERANK_DEFAULT_MODEL": "default",
        "RERANK_API_KEYS": KEY,
        "AWS_LAMBDA_FUNCTION_NAME": "reranker",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3008",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_REGION": "us-east-1",
    }
    with RuntimeApi() as api:
        env["AWS_LAMBDA_RUNTIME_API"] = api.address
        with container(LAMBDA_IMAGE, env, ["reranker.handler.handler"]) as cid:
            if not api.wait_init(180):
                failures.append("lambda init: no invocation/next within 180 s")
                return figures
            if api.init_error is not None:
                failures.append(f"lambda init error: {short(api.init_error)}")
                return figures
            assert api.first_next_at is not None
            figures["init_s"] = api.first_next_at - started_at(cid)
            print(f"   init (process start -> first invocation/next): {figures['init_s']:.2f} s")
            calls: list[tuple[str, dict[str, Any], Callable[[int, Any], bool]]] = [
                ("GET /health", v2_event("GET", "/health", None, None), health_ok),
                ("POST /v1/rerank (first)", v2_event("POST", "/v1/rerank", RERANK_BODY, KEY), rerank_ok),
                ("POST /v1/rerank (warm)", v2_event("POST", "/v1/rerank", RERANK_BODY, KEY), rerank_ok),
                (
                    "POST /v1/rerank, wrong key",
                    v2_event("POST", "/v1/rerank", RERANK_BODY, "not-the-key"),
                    error_is("authentication_error", 401),
                ),
                (
                    "POST /v1/rerank, no documents",
                    v2_event("POST", "/v1/rerank", BAD_BODY, KEY),
                    error_is("invalid_request", 400),
                ),
            ]
            for label, event, check in calls:
                result = api.invoke(event, timeout=120)
                status, body = lambda_answer(result)
                print(f"   {label}: invocation {result.seconds * 1000:.0f} ms")
                expect(failures, label, status, body, check)
                if label.startswith("GET /health") and "first_s" not in figures:
                    figures["first_s"] = result.seconds
                if label.endswith("(first)"):
                    figures["first_rerank_s"] = result.seconds
                if label.endswith("(warm)"):
                    figures["warm_rerank_s"] = result.seconds
    return figures


# --- Zip package with SnapStart's hooks, on the Lambda stand-in base ------------------------------


def smoke_zip(failures: Failures, model: Path, zip_path: Path) -> dict[str, float]:
    """Unzip the package into /var/task of the bare Lambda base and init it the SnapStart way.

    The default model comes from moto S3 before the "snapshot"; a second model is fetched on
    the first request after the "restore", through the S3 client the hooks closed and reopened.
    No real snapshot is taken: the restore/next answer stands for it.
    """
    print("== Zip package on the Lambda stand-in base, SnapStart init (restore hooks run; no real snapshot)")
    figures: dict[str, float] = {}
    server, endpoint, uri = publish_to_moto(model, "smoke-zip")
    second = publish_copy(model, endpoint, "smoke-zip")
    with tempfile.TemporaryDirectory(prefix="reranker-zip-") as task:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(task)
        for path in Path(task).rglob("*"):
            path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
        Path(task).chmod(0o755)
        env = {
            **DUMMY_AWS_ENV,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start",
            "RERANK_MODELS": json.dumps({"all-minilm-l6-v2": uri, "after-restore": second}),
            "RERANK_ALIASES": json.dumps({"default": "all-minilm-l6-v2"}),
            "RERANK_DEFAULT_MODEL": "default",
            "RERANK_API_KEYS": KEY,
            "RERANK_S3_ENDPOINT_URL": endpoint,
            "RERANK_S3_REGION": "us-east-1",
            "RERANK_CACHE_DIR": "/tmp/reranker-models",
            "RERANK_DEVICE": "cpu",
        }
        try:
            with RuntimeApi() as api:
                env["AWS_LAMBDA_RUNTIME_API"] = api.address
                volume = [f"--volume={task}:/var/task:ro"]
                with container(LAMBDA_BASE, env, ["reranker.handler.handler"], volume) as cid:
                    if not api.wait_init(180) or api.first_next_at is None:
                        failures.append(
                            f"zip init: {short(api.init_error) if api.init_error else 'timed out'}"
                        )
                        return figures
                    start = started_at(cid)
                    if api.restore_next_at is None:
                        failures.append("zip: the runtime never asked restore/next (SnapStart hooks not run)")
                    else:
                        figures["init_before_snapshot_s"] = api.restore_next_at - start
                        figures["after_restore_s"] = api.first_next_at - api.restore_next_at
                        print(
                            f"   init before the snapshot (start -> restore/next, model fetched from S3): "
                            f"{figures['init_before_snapshot_s']:.2f} s; after-restore hooks -> first next: "
                            f"{figures['after_restore_s'] * 1000:.0f} ms"
                        )
                    calls: list[tuple[str, dict[str, Any], Callable[[int, Any], bool]]] = [
                        ("GET /health", v2_event("GET", "/health", None, None), health_ok),
                        (
                            "POST /v1/rerank (first)",
                            v2_event("POST", "/v1/rerank", RERANK_BODY, KEY),
                            rerank_ok,
                        ),
                        (
                            "POST /v1/rerank, model fetched after restore",
                            v2_event("POST", "/v1/rerank", {**RERANK_BODY, "model": "after-restore"}, KEY),
                            rerank_ok,
                        ),
                        (
                            "POST /v1/rerank, wrong key",
                            v2_event("POST", "/v1/rerank", RERANK_BODY, "not-the-key"),
                            error_is("authentication_error", 401),
                        ),
                        (
                            "POST /v1/rerank, no documents",
                            v2_event("POST", "/v1/rerank", BAD_BODY, KEY),
                            error_is("invalid_request", 400),
                        ),
                    ]
                    for label, event, check in calls:
                        result = api.invoke(event, timeout=120)
                        status, body = lambda_answer(result)
                        print(f"   {label}: invocation {result.seconds * 1000:.0f} ms")
                        expect(failures, label, status, body, check)
                        if label.endswith("(first)"):
                            figures["first_rerank_s"] = result.seconds
                    logs = podman("logs", cid)
                    logs += subprocess.run(
                        [*podman_cmd(), "logs", cid], capture_output=True, text=True, check=False
                    ).stderr
                    if "restored from snapshot" not in logs:
                        failures.append("zip: the handler's after-restore hook did not log")
        finally:
            server.stop()
    return figures


def publish_copy(model: Path, endpoint: str, bucket: str) -> str:
    """Publish `model` again under another root, for a model that is fetched only after restore."""
    env = {**os.environ, "RERANK_S3_ENDPOINT_URL": endpoint, "RERANK_S3_REGION": "us-east-1"}
    publish(model, f"s3://{bucket}/later", env)
    manifest = json.loads((model / "model.json").read_text())
    return f"s3://{bucket}/later/{manifest['name']}/{manifest['version']}/"


# --- GPU image on the CPU stand-in ---------------------------------------------------------------


def http(method: str, url: str, body: dict[str, Any] | None, key: str | None) -> tuple[int, Any, float]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    seconds = time.perf_counter() - started
    try:
        return status, json.loads(raw), seconds
    except ValueError:
        return status, raw.decode(errors="replace"), seconds


def publish_to_moto(model: Path, bucket: str) -> tuple[Any, str, str]:
    """Start moto S3 on loopback, publish `model` with the real CLI; return (server, endpoint, uri).

    moto keeps its state per process, across servers: each smoke uses its own bucket.
    """
    from moto.server import ThreadedMotoServer

    os.environ.update(DUMMY_AWS_ENV)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    from reranker.config import Settings
    from reranker.model_store.s3client import build_s3_client

    build_s3_client(Settings(s3_endpoint_url=endpoint, s3_region="us-east-1")).create_bucket(Bucket=bucket)
    env = {**os.environ, "RERANK_S3_ENDPOINT_URL": endpoint, "RERANK_S3_REGION": "us-east-1"}
    publish(model, f"s3://{bucket}/models", env)
    manifest = json.loads((model / "model.json").read_text())
    return server, endpoint, f"s3://{bucket}/models/{manifest['name']}/{manifest['version']}/"


def publish(model: Path, root: str, env: dict[str, str]) -> None:
    """Publish `model` under `root` with the real CLI; its output is shown only if it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "reranker.cli", "models", "publish", str(model), root],
        env={**env, "PYTHONPATH": str(REPO / "src")},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"reranker models publish failed:\n{result.stdout}{result.stderr}")


def smoke_gpu(failures: Failures, model: Path) -> dict[str, float]:
    print("== GPU image on the CPU-only stand-in: reranker serve, model from moto S3 (CUDA path NOT tested)")
    figures: dict[str, float] = {}
    server, endpoint, uri = publish_to_moto(model, "smoke-gpu")
    port = 8080 if port_free(8080) else free_port()
    command = None if port == 8080 else ["reranker", "serve", "--host", "0.0.0.0", "--port", str(port)]
    if command:
        print(f"   port 8080 is taken on this host: serving on {port} instead")
    env = {
        **DUMMY_AWS_ENV,
        "RERANK_MODELS": json.dumps({"all-minilm-l6-v2": uri}),
        "RERANK_ALIASES": json.dumps({"default": "all-minilm-l6-v2"}),
        "RERANK_DEFAULT_MODEL": "default",
        "RERANK_API_KEYS": KEY,
        "RERANK_S3_ENDPOINT_URL": endpoint,
        "RERANK_S3_REGION": "us-east-1",
    }
    base = f"http://127.0.0.1:{port}"
    try:
        with container(GPU_IMAGE, env, command) as cid:
            deadline = time.monotonic() + 240
            ready_at = None
            while time.monotonic() < deadline:
                try:
                    status, _, _ = http("GET", f"{base}/ready", None, None)
                    if status == 200:
                        ready_at = time.time()
                        break
                except OSError:
                    pass
                if podman("inspect", "--format", "{{.State.Running}}", cid).strip() != "true":
                    break
                time.sleep(0.1)
            if ready_at is None:
                failures.append("gpu image: /ready never answered 200")
                return figures
            figures["init_s"] = ready_at - started_at(cid)
            print(
                "   init (process start -> /ready answers 200, model fetched and warmed): "
                f"{figures['init_s']:.2f} s"
            )
            status, body, _ = http("GET", f"{base}/v1/models", None, KEY)
            print(f"   GET /v1/models: {status} {short(body)}")
            Call = tuple[str, str, str, dict[str, Any] | None, str | None, Callable[[int, Any], bool]]
            calls: list[Call] = [
                ("GET /health", "GET", "/health", None, None, health_ok),
                ("POST /v1/rerank (first)", "POST", "/v1/rerank", RERANK_BODY, KEY, rerank_ok),
                ("POST /v1/rerank (warm)", "POST", "/v1/rerank", RERANK_BODY, KEY, rerank_ok),
                ("POST /v1/rerank, wrong key", "POST", "/v1/rerank", RERANK_BODY, "not-the-key",
                 error_is("authentication_error", 401)),
                ("POST /v1/rerank, no documents", "POST", "/v1/rerank", BAD_BODY, KEY,
                 error_is("invalid_request", 400)),
            ]  # fmt: skip
            for label, method, path, body, key, check in calls:
                status, answer, seconds = http(method, f"{base}{path}", body, key)
                print(f"   {label}: {seconds * 1000:.0f} ms")
                expect(failures, label, status, answer, check)
                if label.endswith("(first)"):
                    figures["first_rerank_s"] = seconds
                if label.endswith("(warm)"):
                    figures["warm_rerank_s"] = seconds
    finally:
        server.stop()
    return figures


def timings(figures: dict[str, float]) -> str:
    return ", ".join(
        f"{name} {value:.2f} s" if value >= 1 else f"{name} {value * 1000:.0f} ms"
        for name, value in figures.items()
    )


def unzipped_bytes(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


def port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["lambda", "zip", "gpu"], help="smoke one package")
    parser.add_argument("--no-build", action="store_true", help="reuse the images built last time")
    parser.add_argument("--model", type=Path, default=REPO / "models" / "all-minilm-l6-v2")
    parser.add_argument("--prune", action="store_true", help="remove the smoke images and stand-ins after")
    args = parser.parse_args()
    for tool in ("podman", "buildah", "runc", "mmdebstrap"):
        if shutil.which(tool) is None:
            print(f"{tool} is missing: apt-get install -y podman buildah runc mmdebstrap", file=sys.stderr)
            return 2
    if not (args.model / "model.json").is_file():
        print(f"{args.model} has no model.json: run `make default-model` first", file=sys.stderr)
        return 2
    baked = args.model.resolve().relative_to(REPO).as_posix()
    if not (image_exists(LAMBDA_BASE) and image_exists(CUDA_STANDIN)):
        env = {**os.environ, "PODMAN": shlex.join(podman_cmd())}
        subprocess.run([str(REPO / "infra" / "smoke" / "standin-bases.sh")], check=True, env=env)

    wanted = [args.only] if args.only else ["lambda", "zip", "gpu"]
    failures: Failures = []
    report: list[str] = []
    if "lambda" in wanted:
        seconds = (
            0.0 if args.no_build else build("infra/Dockerfile.lambda", LAMBDA_IMAGE, {"BAKED_MODEL": baked})
        )
        figures = smoke_lambda(failures)
        size, base = image_size(LAMBDA_IMAGE), image_size(LAMBDA_BASE)
        report.append(
            f"lambda image {LAMBDA_IMAGE}: {mb(size)} ({mb(size - base)} over the {mb(base)} stand-in base, "
            f"model {baked} baked in); build {seconds:.0f} s; " + timings(figures)
        )
    if "zip" in wanted:
        zip_path = REPO / "build" / "lambda" / "reranker-lambda.zip"
        if not (args.no_build and zip_path.is_file()):
            print("== building the Lambda zip (infra/build_lambda_zip.py)", flush=True)
            subprocess.run(
                [sys.executable, str(REPO / "infra" / "build_lambda_zip.py"), "--out", str(zip_path)],
                check=True,
            )
        figures = smoke_zip(failures, args.model, zip_path)
        report.append(
            f"lambda zip {zip_path.relative_to(REPO)}: {mb(zip_path.stat().st_size)} zipped, "
            f"{mb(unzipped_bytes(zip_path))} unzipped (model from S3, not inside); " + timings(figures)
        )
    if "gpu" in wanted:
        seconds = (
            0.0 if args.no_build else build("infra/Dockerfile.gpu", GPU_IMAGE, {"CUDA_IMAGE": CUDA_STANDIN})
        )
        figures = smoke_gpu(failures, args.model)
        size, base = image_size(GPU_IMAGE), image_size(CUDA_STANDIN)
        report.append(
            f"gpu image {GPU_IMAGE} (CPU stand-in base): {mb(size)} ({mb(size - base)} over the {mb(base)} "
            f"stand-in base, no model); build {seconds:.0f} s; " + timings(figures)
        )
    print("== summary")
    for line in report:
        print("   " + line)
    if args.prune:
        podman("rmi", "-f", LAMBDA_IMAGE, GPU_IMAGE, LAMBDA_BASE, CUDA_STANDIN, check=False)
        podman("image", "prune", "-f", check=False)
    if failures:
        print(f"FAILED: {', '.join(failures)}")
        return 1
    print("image smoke passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
