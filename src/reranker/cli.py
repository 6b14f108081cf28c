"""`reranker serve | models export`: the command line, a thin layer over the package."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from reranker.errors import ModelUnavailable, RerankError

logger = logging.getLogger("reranker.cli")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from reranker.api.app import create_app
    from reranker.config import Settings
    from reranker.model_store.local import LocalModelStore

    overrides: dict[str, object] = {}
    if args.model:
        models: dict[str, str] = {}
        aliases: dict[str, str] = {}
        for folder in args.model:
            manifest = LocalModelStore().fetch(str(folder), label=folder.name).manifest
            models[manifest.name] = str(folder.resolve())
            aliases.update({alias: manifest.name for alias in manifest.aliases})
        overrides = {"models": models, "aliases": aliases, "default_model": next(iter(models))}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    app = create_app(settings)
    if settings.default_model:
        try:
            app.state.service.warm(settings.default_model)
            logger.info("default model ready", extra={"model": settings.default_model})
        except ModelUnavailable as exc:
            # As at Lambda init: serve anyway; requests get 503 and retry the load until it works.
            logger.error(
                "default model not ready; requests will retry it",
                extra={"model": settings.default_model, "error": exc.message},
            )
    # uvicorn finishes in-flight requests on SIGTERM, then re-raises the signal, which would end
    # the process with status 143; this handler makes that drained stop (or a SIGTERM before
    # uvicorn listens, with nothing in flight) exit 0 instead.
    signal.signal(signal.SIGTERM, _drained)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        timeout_graceful_shutdown=args.graceful_seconds,
    )
    return 0


def _drained(signum: int, frame: FrameType | None) -> None:
    logger.info("stopped on SIGTERM after finishing the requests in flight")
    raise SystemExit(0)


def _export(args: argparse.Namespace) -> int:
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
    )
    sys.stdout.write(manifest.to_json())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reranker", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--model",
        type=Path,
        action="append",
        help="serve this model folder under its manifest name and aliases (repeatable; "
        "the first is the default); without it, RERANK_MODELS is used",
    )
    serve.add_argument("--graceful-seconds", type=int, default=30)
    serve.set_defaults(run=_serve)

    models = commands.add_parser("models", help="export, publish and list models")
    model_commands = models.add_subparsers(dest="models_command", required=True)
    export = model_commands.add_parser(
        "export", help="Hugging Face checkpoint folder -> ONNX model folder (needs the [export] extra)"
    )
    export.add_argument("source", type=Path, help="checkpoint folder (weights, config, tokenizer)")
    export.add_argument("out", type=Path, help="model folder to write")
    export.add_argument("--name", required=True)
    export.add_argument("--version", default="1")
    export.add_argument("--alias", action="append", default=[])
    export.add_argument("--kind", choices=["cross-encoder", "bi-encoder"])
    export.add_argument("--max-length", type=int)
    export.add_argument(
        "--variants",
        nargs="+",
        choices=["fp32", "int8"],
        help="default: fp32 and int8 (fp32 alone for families whose int8 does not keep parity)",
    )
    export.add_argument(
        "--prompt-template",
        help="yes/no rerankers: the prompt with {instruction}, {query}, {document} (default: the family's)",
    )
    export.add_argument("--instruction", help="yes/no rerankers: the default instruction")
    export.add_argument("--overwrite", action="store_true")
    export.set_defaults(run=_export)
    # Each subsystem adds its own subcommands below (their modules import nothing heavy at top).
    from reranker.model_store.command import add_store_commands

    add_store_commands(model_commands)
    from reranker.eval.command import add_eval_command

    add_eval_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; a RerankError prints its message and exits 2, without a traceback."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        code: int = args.run(args)
    except RerankError as exc:
        sys.stderr.write(f"reranker: {exc.message}\n")
        return 2
    return code


if __name__ == "__main__":
    raise SystemExit(main())
