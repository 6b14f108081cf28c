"""infra/template-zip.yaml: the zip + SnapStart choice lints clean and stays the image template's twin.

Everything but the function's packaging (and the two parameters SnapStart rules out) must equal
infra/template.yaml, so a fix to one template cannot silently miss the other.
"""

from __future__ import annotations

import ast
import importlib.util
import os
from types import ModuleType
from typing import Any

import pytest

from reranker.config import Settings
from tests.infra.cfn import INFRA, REPO, Resolver, load_template
from tests.infra.test_template import RESOURCES, SCENARIOS

ZIP_TEMPLATE = INFRA / "template-zip.yaml"
PREFIX = str(Settings.model_config.get("env_prefix"))
# Image-only: SnapStart refuses provisioned concurrency and /tmp above 512 MB.
IMAGE_ONLY_PARAMETERS = {"ProvisionedConcurrency", "EphemeralStorageSize"}
PACKAGING = {
    "Description",
    "PackageType",
    "ImageConfig",
    "CodeUri",
    "Handler",
    "Runtime",
    "SnapStart",
    "EphemeralStorage",
    "ProvisionedConcurrencyConfig",
}


@pytest.fixture(scope="module")
def image() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def zipped() -> dict[str, Any]:
    return load_template(ZIP_TEMPLATE)


def zip_builder() -> ModuleType:
    """Return infra/build_lambda_zip.py as a module (infra/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("build_lambda_zip", INFRA / "build_lambda_zip.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cfn_lint_passes_with_informational_checks() -> None:
    api = pytest.importorskip("cfnlint.api", reason="cfn-lint is in the [dev] extra")
    config = api.ManualArgs(regions=["us-east-1", "eu-west-1", "ap-southeast-2"], include_checks=["I"])
    assert [str(match) for match in api.lint_file(ZIP_TEMPLATE, config=config)] == []


def _without(keys: set[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in properties.items() if key not in keys}


def _without_descriptions(parameters: dict[str, Any]) -> dict[str, Any]:
    return {name: {k: v for k, v in spec.items() if k != "Description"} for name, spec in parameters.items()}


def test_only_the_packaging_differs_from_the_image_template(
    image: dict[str, Any], zipped: dict[str, Any]
) -> None:
    assert set(zipped["Parameters"]) == set(image["Parameters"]) - IMAGE_ONLY_PARAMETERS
    kept = {name: spec for name, spec in image["Parameters"].items() if name not in IMAGE_ONLY_PARAMETERS}
    assert _without_descriptions(zipped["Parameters"]) == _without_descriptions(kept)
    assert zipped["Conditions"] == {
        k: v for k, v in image["Conditions"].items() if k != "HasProvisionedConcurrency"
    }
    assert zipped["Outputs"] == image["Outputs"]
    others = set(image["Resources"]) - {"RerankFunction"}
    assert set(zipped["Resources"]) == set(image["Resources"])
    for name in others:
        assert zipped["Resources"][name] == image["Resources"][name], name
    ours, theirs = zipped["Resources"]["RerankFunction"], image["Resources"]["RerankFunction"]
    assert "Metadata" not in ours  # nothing for `sam build` to build: the zip is prebuilt
    assert _without(PACKAGING, ours["Properties"]) == _without(PACKAGING, theirs["Properties"])


def test_zip_function_is_snapstarted_behind_the_live_alias(zipped: dict[str, Any]) -> None:
    properties = zipped["Resources"]["RerankFunction"]["Properties"]
    assert properties["PackageType"] == "Zip"
    assert properties["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert properties["AutoPublishAlias"] == "live"  # SnapStart applies to published versions only
    assert "ProvisionedConcurrencyConfig" not in properties
    assert properties["EphemeralStorage"] == {"Size": 512}
    # The runtime the zip is built for, and where the build writes it.
    builder = zip_builder()
    assert properties["Runtime"] == f"python{builder.DEFAULT_PYTHON}"
    assert (INFRA / properties["CodeUri"]).resolve() == builder.DEFAULT_OUT
    assert "CPython 3.12" in (INFRA / "constraints-lambda.txt").read_text()

    module_name, _, attribute = properties["Handler"].rpartition(".")
    assert module_name == "reranker.handler"
    tree = ast.parse((REPO / "src" / "reranker" / "handler.py").read_text())
    assigned = {
        t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
    }
    assert attribute in assigned
    # The hooks SnapStart runs are registered by the handler module.
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert {"register_before_snapshot", "register_after_restore"} <= calls


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_zip_environment_loads_the_same_settings(
    image: dict[str, Any], zipped: dict[str, Any], scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    parameters = {k: v for k, v in SCENARIOS[scenario].items() if k not in IMAGE_ONLY_PARAMETERS}
    environments = []
    for template in (image, zipped):
        function = Resolver(template, parameters, RESOURCES).resolve(template["Resources"]["RerankFunction"])
        environments.append(function["Properties"]["Environment"]["Variables"])
    assert environments[0] == environments[1]
    for name in [name for name in os.environ if name.startswith(PREFIX)]:
        monkeypatch.delenv(name)
    for name, value in environments[1].items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    # The managed runtime has no image ENV: the template itself must keep the cache in /tmp.
    assert str(settings.cache_dir).startswith("/tmp/") and settings.device == "cpu"
