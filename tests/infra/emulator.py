"""serverless-offline (npm) in front of `reranker.handler.handler`: real API Gateway HTTP API events.

Installed once with `npm ci` from infra/emulator's lock file into a cache folder outside the
repository (keyed by the lock file's hash, so CI on the same machine reuses it), then started
on free loopback ports. It needs node and npm and the npm registry for the first install;
when any of these is missing the caller skips with the reason.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.fixtures.moto_server import free_port
from tests.infra.cfn import INFRA

EMULATOR = INFRA / "emulator"


class EmulatorUnavailable(Exception):
    """node, npm or the npm packages cannot be had here; the message says which."""


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reranker"


def install() -> Path:
    """Return a folder whose node_modules holds the locked serverless and serverless-offline."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise EmulatorUnavailable("node and npm are not installed (apt-get install nodejs npm)")
    manifest = (EMULATOR / "package.json").read_bytes()
    lock = (EMULATOR / "package-lock.json").read_bytes()
    folder = _cache_root() / f"emulator-{hashlib.sha256(manifest + lock).hexdigest()[:16]}"
    if (folder / "node_modules" / "serverless-offline" / "package.json").is_file():
        return folder
    staging = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / "package.json").write_bytes(manifest)
    (staging / "package-lock.json").write_bytes(lock)
    # --ignore-scripts: the locked packages' install scripts only print notices.
    result = subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=staging,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise EmulatorUnavailable(f"npm ci failed in infra/emulator: {' / '.join(tail)}")
    try:
        staging.rename(folder)
    except OSError:  # another run installed it meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    return folder


@contextmanager
def run(installed: Path, workdir: Path, env: Mapping[str, str], timeout: float = 120.0) -> Iterator[str]:
    """Yield the base URL of serverless-offline serving infra/emulator/serverless.yml.

    The handler runs in a Python child of node: the first `python3` on PATH, which is put to
    this interpreter's (the venv's) so it imports the package under test.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(EMULATOR / "serverless.yml", workdir / "serverless.yml")
    (workdir / "node_modules").symlink_to(installed / "node_modules", target_is_directory=True)
    port, lambda_port = free_port(), free_port()
    bin_dir = str(Path(sys.executable).parent)
    child_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RERANK_")},
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": sys.prefix,
        "SLS_TELEMETRY_DISABLED": "1",
        "SLS_NOTIFICATIONS_MODE": "off",
        "SLS_DEPRECATION_DISABLE": "*",
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    log_path = workdir / "emulator.log"
    node = shutil.which("node") or "node"
    command = [
        node,
        str(installed / "node_modules" / "serverless" / "bin" / "serverless.js"),
        "offline",
        "start",
        "--host",
        "127.0.0.1",
        "--httpPort",
        str(port),
        "--lambdaPort",
        str(lambda_port),
    ]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=workdir, env=child_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"emulator exited early:\n{log_path.read_text()[-3000:]}")
            try:
                # The first request starts the Python child: Lambda init (import, keys, warm-up).
                if httpx.get(f"{base_url}/health", timeout=timeout).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"emulator did not answer /health in time:\n{log_path.read_text()[-3000:]}"
                )
            time.sleep(0.25)
        yield base_url
    finally:
        # Our own child's process group: node and the Python handler it spawned.
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass


def log_text(workdir: Path) -> str:
    """Return what the emulator and the handler printed."""
    return (workdir / "emulator.log").read_text()
