"""`reranker serve | models export`: the command line, a thin layer over the package.

Commands import their heavy packages only when they run, so a command whose extra is not
installed fails with one line naming the extra (exit 2), not with a traceback.
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import importlib.util
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reranker.errors import RerankError

logger = logging.getLogger("reranker.cli")

# Distributions whose top-level module is not their normalised name (checked against the
# installed packages by tests/test_cli.py); every other module is `name.lower()` with `-` -> `_`.
MODULE_OF_DISTRIBUTION = {"pystemmer": "Stemmer"}
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)[^;]*;\s*extra\s*==\s*['\"]([^'\"]+)['\"]")


def module_of(distribution: str) -> str:
    """Return the top-level module a distribution installs, e.g. `PyStemmer` -> `Stemmer`."""
    normal = re.sub(r"[-_.]+", "-", distribution).lower()
    return MODULE_OF_DISTRIBUTION.get(normal, normal.replace("-", "_"))


@functools.cache
def extra_of_module() -> dict[str, str]:
    """Return the top-level module of each extra's packages -> the extra that installs it.

    Read from the installed distribution's Requires-Dist (the extras of pyproject.toml), so a
    package added to an extra is covered without a list kept by hand. The first extra that names
    a package wins; `dev` (the tests' tools) is no command's extra.
    """
    try:
        requirements = importlib.metadata.requires("reranker") or []
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        requirements = []
    found: dict[str, str] = {}
    for requirement in requirements:
        match = _REQUIREMENT.match(requirement)
        if match is None or match.group(2) == "dev":
            continue
        found.setdefault(module_of(match.group(1)), match.group(2))
    return found


def missing_module(extra: str) -> str | None:
    """Return the first module of the extra's packages that cannot be imported, or None."""
    for module, its_extra in extra_of_module().items():
        if its_extra == extra and importlib.util.find_spec(module) is None:
            return module
    return None


def _needs_extra(args: argparse.Namespace, extra: str, module: str) -> int:
    sys.stderr.write(
        f"reranker: {_command(args)} needs the [{extra}] extra ({module} is not installed): "
        f"pip install 'reranker[{extra}]'\n"
    )
    return 2


class _OwnLinesOnly(logging.Filter):
    """Pass reranker's own log lines and other packages' errors; drop the toolchain's chatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.startswith("reranker") or record.levelno >= logging.ERROR


def _serve(args: argparse.Namespace) -> int:
    from reranker.api.app import create_app
    from reranker.api.server import build_server
    from reranker.config import load_settings
    from reranker.registry import folder_settings

    settings = folder_settings(args.model) if args.model else load_settings()
    app = create_app(settings)
    _log_through_reranker("uvicorn", "asyncio", "botocore", "boto3")
    logger.info(
        "serving",
        extra={
            "host": args.host,
            "port": args.port,
            "models": sorted(settings.models),
            "aliases": settings.aliases,
            "default_model": settings.default_model,
            "warmup": settings.warmup,
        },
    )
    # uvicorn finishes in-flight requests on SIGTERM and SIGINT (Ctrl-C), then re-raises the
    # signal, which would end the process with status 143, or with a KeyboardInterrupt traceback
    # through asyncio.run; this handler makes that stop (or a signal before uvicorn listens, with
    # nothing in flight) exit 0 instead, and says whether anything was cut off. A handler of our
    # own for SIGINT also keeps asyncio.run from installing its own, which cancels the main task.
    # The re-raised signal arrives while the loop still runs, before the requests uvicorn has
    # just cancelled have answered their 503s; they are counted once asyncio.run has let them
    # finish, so the line is logged after it returns.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, _raise_stopped)
    try:
        if settings.default_model and settings.warmup == "fail_fast":
            app.state.service.warm(settings.default_model)  # ModelUnavailable: exit 2 before listening
            logger.info("default model ready", extra={"model": settings.default_model})
        elif settings.default_model:
            app.state.service.warm_in_background(settings.default_model)
        build_server(app, settings, args.host, args.port, args.graceful_seconds).run()
    except _Stopped as stopped:
        _log_stopped(app.state, stopped.signal_name)
        _finish_model_loads(args.graceful_seconds)
    return 0


def _finish_model_loads(seconds: float) -> None:
    """Wait (at most `seconds`) for a warm-up or model load still running when the server stopped.

    Those threads (service.warm_in_background, registry's `load-<name>`) are daemons: left inside
    onnxruntime while the interpreter exits, its C++ thread pool aborts the process ("terminate
    called without an active exception", status -6). Past the wait, exit at once, status 0.
    """
    deadline = time.monotonic() + seconds
    loading = [t for t in threading.enumerate() if t.name == "warm-up" or t.name.startswith("load-")]
    for thread in loading:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in loading):
        logger.warning("a model load was still running after the grace period; exiting without it")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


class _Stopped(SystemExit):
    """Raised by the SIGTERM and SIGINT handler; exits 0."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(0)
        self.signal_name = signal_name


def _raise_stopped(signum: int, frame: Any) -> None:
    raise _Stopped(signal.Signals(signum).name)


def _log_through_reranker(*names: str) -> None:
    """Send the lines of uvicorn, asyncio and boto (warnings and up) through the JSON handler."""
    handlers = logging.getLogger("reranker").handlers
    for name in names:
        other = logging.getLogger(name)
        other.handlers[:] = handlers
        other.propagate = False
        other.setLevel(logging.WARNING)


def _log_stopped(state: Any, signal_name: str) -> None:
    cut_off = getattr(state, "cut_off", 0)
    if cut_off:
        logger.warning(
            f"stopped on {signal_name}; requests still running at the end of the grace period "
            "were answered 503",
            extra={"requests": cut_off},
        )
    else:
        logger.info(f"stopped on {signal_name} after finishing the requests in flight")


def _export(args: argparse.Namespace) -> int:
    if not args.verbose:
        # onnxruntime's optimizer and quantizer log ~55 lines per export on the root logger; the
        # parity figures and the summary are what a user needs.
        for handler in logging.getLogger().handlers:
            handler.addFilter(_OwnLinesOnly())
    from reranker.export.exporter import export_model

    manifest = export_model(
        args.source,
        args.out,
        name=args.name,
        version=args.version,
        aliases=args.alias,
        kind=args.kind,
        max_length=args.max_length,
        variants=args.variants,
        overwrite=args.overwrite,
        prompt_template=args.prompt_template,
        instruction=args.instruction,
        calibration=args.calibration,
    )
    sys.stdout.write(manifest.to_json())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reranker", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the API over HTTP (uvicorn)",
        description="Serve the API. Limits, timeouts and models come from RERANK_* settings "
        "(see the README); connection limits: RERANK_MAX_CONNECTIONS, RERANK_HEADER_TIMEOUT_SECONDS, "
        "RERANK_BODY_TIMEOUT_SECONDS, RERANK_KEEP_ALIVE_SECONDS, RERANK_MAX_HEADER_BYTES.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    serve.add_argument(
        "--model",
        type=Path,
        action="append",
        help="serve this model folder under its manifest name and aliases (repeatable; "
        "the first is the default); without it, RERANK_MODELS is used",
    )
    serve.add_argument(
        "--graceful-seconds",
        type=int,
        default=30,
        help="on SIGTERM, how long requests in flight may take to finish; those still running "
        "after it are answered 503 with Retry-After",
    )
    serve.set_defaults(run=_serve)

    models = commands.add_parser("models", help="export, publish and list models")
    model_commands = models.add_subparsers(dest="models_command", required=True)
    export = model_commands.add_parser(
        "export", help="Hugging Face checkpoint folder -> ONNX model folder (needs the [export] extra)"
    )
    export.add_argument("source", type=Path, help="checkpoint folder (weights, config, tokenizer)")
    export.add_argument("out", type=Path, help="model folder to write")
    export.add_argument("--name", required=True, help="the model's served name (in model.json)")
    export.add_argument(
        "--version", default="1", help="version recorded in model.json (default: %(default)s)"
    )
    export.add_argument(
        "--alias", action="append", default=[], help="an alias the model is also served as (repeatable)"
    )
    export.add_argument(
        "--kind",
        choices=["cross-encoder", "bi-encoder"],
        help="default: read from the checkpoint (a sequence-classification head is a cross-encoder)",
    )
    export.add_argument("--max-length", type=int, help="tokens per pair (default: the checkpoint's own)")
    export.add_argument(
        "--variants",
        nargs="+",
        choices=["fp32", "int8"],
        help="graphs to write (default: fp32 int8; fp32 alone where a family's int8 misses parity); "
        "int8 writes onnxruntime's dynamic int8 and OpenVINO's static int8",
    )
    export.add_argument(
        "--calibration",
        type=Path,
        help='static int8: JSON Lines of your own text, {"query": ..., "document": ...} per line for a '
        'cross-encoder, {"text": ...} for a bi-encoder (default: the fixed sample rows)',
    )
    export.add_argument(
        "--prompt-template",
        help="yes/no rerankers: the prompt with {instruction}, {query}, {document} (default: the family's)",
    )
    export.add_argument("--instruction", help="yes/no rerankers: the default instruction")
    export.add_argument("--overwrite", action="store_true", help="replace an existing model folder")
    export.add_argument(
        "--verbose",
        action="store_true",
        help="also show onnxruntime's optimizer and quantizer log lines (hidden by default)",
    )
    export.set_defaults(run=_export, extra="export")
    # Each subsystem adds its own subcommands below (their modules import nothing heavy at top).
    from reranker.model_store.command import add_store_commands

    add_store_commands(model_commands)
    from reranker.eval.command import add_eval_command, add_promotion_commands

    add_promotion_commands(model_commands)

    add_eval_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; a RerankError prints its message and exits 2, without a traceback."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # A command's extra is checked whole before it runs: its packages are imported at different
    # points (BM25 only without a run file, httpx only with --api-url).
    extra = getattr(args, "extra", None)
    module = missing_module(extra) if extra else None
    if extra and module:
        return _needs_extra(args, extra, module)
    try:
        code: int = args.run(args)
    except RerankError as exc:
        sys.stderr.write(f"reranker: {exc.message}\n")
        return 2
    except ModuleNotFoundError as exc:
        module = (exc.name or "").partition(".")[0]
        extra = extra_of_module().get(module)
        if extra is None:
            raise
        return _needs_extra(args, extra, module)
    return code


def _command(args: argparse.Namespace) -> str:
    """Return the command's words as typed, e.g. `models export`."""
    words = [args.command]
    for attribute in ("models_command", "eval_command"):
        if isinstance(getattr(args, attribute, None), str):
            words.append(getattr(args, attribute))
    return " ".join(words)


if __name__ == "__main__":
    raise SystemExit(main())
