"""The container files, read statically: no Docker engine runs on these machines.

They must copy only files that exist and that their ignore files let through, set only real
settings, start the real entry points, and keep the Lambda image free of torch, transformers
and the eval packages (checked on the dependency closure the image installs).
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from reranker.cli import build_parser
from reranker.config import Settings
from tests.infra.cfn import INFRA, REPO
from tests.infra.dockerfile import Instruction, copy_sources, env_vars, ignored, parse_dockerfile

PREFIX = str(Settings.model_config.get("env_prefix"))
LAMBDA = INFRA / "Dockerfile.lambda"
GPU = INFRA / "Dockerfile.gpu"
HEAVY = {"torch", "transformers", "sentence-transformers", "ranx", "bm25s", "numba", "onnx"}
# The Lambda base image's Python, on Linux: markers in the closure are evaluated for it.
LAMBDA_ENV = {
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def pyproject() -> dict[str, Any]:
    with (REPO / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def _applies(marker: Marker | None, extras: set[str]) -> bool:
    if marker is None:
        return True
    return any(marker.evaluate({**LAMBDA_ENV, "extra": extra}) for extra in extras or {""})


def runtime_closure() -> dict[str, Requirement]:
    """Return every distribution `pip install .` (no extras) pulls in, from installed metadata."""
    roots = [Requirement(text) for text in pyproject()["project"]["dependencies"]]
    found: dict[str, Requirement] = {}
    stack = [req for req in roots if _applies(req.marker, set())]
    while stack:
        requirement = stack.pop()
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        found[name] = requirement
        for text in metadata.requires(requirement.name) or []:
            child = Requirement(text)
            if _applies(child.marker, set(requirement.extras)):
                stack.append(child)
    return found


def constraints() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (INFRA / "constraints-lambda.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _run_lines(instructions: list[Instruction]) -> list[str]:
    return [instruction.text for instruction in instructions if instruction.keyword == "RUN"]


@pytest.mark.parametrize("dockerfile", [LAMBDA, GPU], ids=lambda path: path.name)
def test_copies_only_files_that_exist_and_pass_the_ignore_file(dockerfile: Path) -> None:
    instructions = parse_dockerfile(dockerfile)
    ignore_file = dockerfile.with_name(dockerfile.name + ".dockerignore")
    sources = copy_sources(instructions)
    assert sources, "the image copies the package in"
    for source in sources:
        path = REPO / source
        assert path.exists(), f"{dockerfile.name} copies {source}, which is not in the repository"
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        files = [f for f in files if "__pycache__" not in f.parts and ".egg-info" not in str(f)]
        assert files, f"{source} is empty"
        for file in files:
            relative = file.relative_to(REPO).as_posix()
            assert not ignored(relative, ignore_file), f"{ignore_file.name} drops {relative}"
    # What must never be sent to the builder.
    for heavy in (".venv/bin/python", ".git/HEAD", "tests/conftest.py", "benchmarks/run.py"):
        assert ignored(heavy, ignore_file), heavy


def test_baked_model_argument_can_name_an_exported_model_folder() -> None:
    ignore_file = INFRA / "Dockerfile.lambda.dockerignore"
    instructions = parse_dockerfile(LAMBDA, {"BAKED_MODEL": "models/all-minilm-l6-v2"})
    assert "models/all-minilm-l6-v2/" in copy_sources(instructions)
    assert not ignored("models/all-minilm-l6-v2/model.json", ignore_file)
    assert not ignored("infra/no-model/README.md", ignore_file)


def test_lambda_image_runs_the_handler_on_the_lambda_python_base() -> None:
    instructions = parse_dockerfile(LAMBDA)
    bases = [i.text.split()[0] for i in instructions if i.keyword == "FROM"]
    assert bases and all(re.fullmatch(r"public\.ecr\.aws/lambda/python:3\.1[1-3]", base) for base in bases)
    (cmd,) = [i for i in instructions if i.keyword == "CMD"]
    assert cmd.exec_form() == ["reranker.handler.handler"]


def test_lambda_image_installs_the_package_without_extras_pinned_by_constraints() -> None:
    (install,) = [line for line in _run_lines(parse_dockerfile(LAMBDA)) if "pip install" in line]
    words = install.split("&&")[0].split()
    assert words[:2] == ["pip", "install"]
    options: dict[str, str | None] = {}
    targets: list[str] = []
    rest = iter(words[2:])
    for word in rest:
        if word in ("--target", "--constraint"):
            options[word] = next(rest)
        elif word.startswith("-"):
            options[word] = None
        else:
            targets.append(word)
    assert targets == ["."], "the package alone, no extras, no extra requirements"
    assert options["--constraint"] == "constraints.txt"
    assert "-r" not in options and "--requirement" not in options
    copies = [i.words() for i in parse_dockerfile(LAMBDA) if i.keyword == "COPY"]
    assert ["infra/constraints-lambda.txt", "./constraints.txt"] in copies


def test_lambda_closure_has_no_heavy_packages_and_constraints_pin_exactly_it() -> None:
    closure = runtime_closure()
    assert not HEAVY & set(closure), sorted(HEAVY & set(closure))
    assert {"onnxruntime", "tokenizers", "mangum", "fastapi", "boto3", "numpy"} <= set(closure)
    pins = constraints()
    assert not HEAVY & set(pins)
    assert set(pins) == set(closure), (
        "infra/constraints-lambda.txt is out of step with [project].dependencies: "
        "run infra/lock-lambda-deps.sh"
    )
    for text in pyproject()["project"]["dependencies"]:
        requirement = Requirement(text)
        pinned = pins[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(pinned), f"{requirement} excludes the pin {pinned}"


def test_no_extra_leaks_into_the_base_dependencies() -> None:
    extras = pyproject()["project"]["optional-dependencies"]
    assert any(Requirement(r).name == "onnxruntime-gpu" for r in extras["gpu"])
    eval_and_export = {
        canonicalize_name(Requirement(r).name) for key in ("eval", "export") for r in extras[key]
    }
    assert {"torch", "transformers", "ranx", "bm25s"} <= eval_and_export
    base = {canonicalize_name(Requirement(r).name) for r in pyproject()["project"]["dependencies"]}
    assert not base & {"torch", "transformers", "ranx", "bm25s", "onnxruntime-gpu"}


def test_gpu_image_serves_with_uvicorn_on_cuda_onnxruntime() -> None:
    instructions = parse_dockerfile(GPU)
    (base,) = [i.text.split()[0] for i in instructions if i.keyword == "FROM"]
    assert re.fullmatch(r"nvidia/cuda:\d+\.\d+\.\d+-cudnn-runtime-ubuntu\d+\.\d+", base)
    (install,) = [line for line in _run_lines(instructions) if '".[gpu]"' in line]
    steps = [step.strip() for step in install.split("&&")]
    # The CPU wheel is removed after the GPU one is in, then the GPU files are laid back.
    assert steps[1] == "pip uninstall -y onnxruntime"
    assert steps[2].startswith("pip install --force-reinstall --no-deps")
    assert "CUDAExecutionProvider" in install
    pinned = re.search(r"onnxruntime-gpu==([\w.]+)", steps[2])
    assert pinned is not None
    (gpu_requirement,) = [Requirement(r) for r in pyproject()["project"]["optional-dependencies"]["gpu"]]
    assert gpu_requirement.specifier.contains(pinned.group(1))

    (cmd,) = [i for i in instructions if i.keyword == "CMD"]
    argv = cmd.exec_form()
    assert argv[0] == "reranker"
    args = build_parser().parse_args(argv[1:])
    assert (args.command, args.host) == ("serve", "0.0.0.0")
    (expose,) = [i.text for i in instructions if i.keyword == "EXPOSE"]
    assert expose == str(args.port)
    (health,) = [i for i in instructions if i.keyword == "HEALTHCHECK"]
    assert f"http://127.0.0.1:{args.port}/health" in " ".join(health.exec_form())
    users = [i.text for i in instructions if i.keyword == "USER"]
    assert users and users[-1] != "root"


@pytest.mark.parametrize("dockerfile", [LAMBDA, GPU], ids=lambda path: path.name)
def test_image_environment_sets_only_real_settings_with_valid_values(
    dockerfile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = {
        name: value
        for name, value in env_vars(parse_dockerfile(dockerfile)).items()
        if name.startswith(PREFIX)
    }
    assert ours
    fields = {PREFIX + field.upper() for field in Settings.model_fields}
    assert set(ours) <= fields, sorted(set(ours) - fields)
    for name, value in ours.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert str(settings.cache_dir) == ours["RERANK_CACHE_DIR"]
