"""infra/k8s: both kustomizations render, validate against Kubernetes' own schemas, and agree with the image.

Validation is offline with `kubernetes-validate` (PyPI; it ships the OpenAPI-derived JSON
schemas per Kubernetes release), in strict mode, so an unknown or misspelt field fails too.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from reranker.config import Settings
from tests.infra.cfn import INFRA
from tests.infra.dockerfile import env_vars, parse_dockerfile
from tests.infra.kustomize import render

K8S = INFRA / "k8s"
VARIANTS = {"base": K8S / "base", "gpu": K8S / "gpu"}
# The oldest release EKS, GKE and AKS still support in standard support, and the newest schemas shipped.
OLDEST = "1.30"
PREFIX = str(Settings.model_config.get("env_prefix"))


def rendered(variant: str) -> dict[str, dict[str, Any]]:
    return {resource["kind"]: resource for resource in render(VARIANTS[variant])}


def pod_spec(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = resources["Deployment"]["spec"]["template"]["spec"]
    return spec


def container(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (only,) = pod_spec(resources)["containers"]
    assert isinstance(only, dict)
    return only


def environment(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        entry["name"]: entry.get("value", entry.get("valueFrom")) for entry in container(resources)["env"]
    }


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_resource_validates_strictly_against_kubernetes_schemas(variant: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is in [dev]")
    from kubernetes_validate.utils import latest_version

    resources = render(VARIANTS[variant])
    assert sorted(r["kind"] for r in resources) == [
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]
    for version in (OLDEST, latest_version()):
        for resource in resources:
            kubernetes_validate.validate(resource, version, strict=True)


def test_strict_validation_catches_a_misspelt_field() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is in [dev]")
    deployment = rendered("base")["Deployment"]
    container(rendered("base"))  # the shape the mutation below relies on
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {
        "httpGet": {"path": "/health"}
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, OLDEST, strict=True)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_pods_run_the_gpu_image_command_port_user_and_cache_dir(variant: str) -> None:
    resources = rendered(variant)
    dockerfile = parse_dockerfile(INFRA / "Dockerfile.gpu")
    (cmd,) = [i for i in dockerfile if i.keyword == "CMD"]
    (expose,) = [i.text for i in dockerfile if i.keyword == "EXPOSE"]
    main = container(resources)
    assert main["args"] == cmd.exec_form()
    assert main["image"].endswith("/reranker-gpu:0.1.0")
    (port,) = main["ports"]
    assert (port["name"], str(port["containerPort"])) == ("http", expose)
    # With RERANK_WARMUP=fail_fast, `reranker serve` warms the default model before it listens
    # (the default, background, would listen at once); readiness is /ready (the default model
    # loaded and warmed), liveness and start-up /health.
    assert environment(resources)["RERANK_WARMUP"] == "fail_fast"
    assert main["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    for probe in ("startupProbe", "livenessProbe"):
        assert main[probe]["httpGet"] == {"path": "/health", "port": "http"}
    startup = main["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300  # room for an S3 fetch
    (useradd,) = [i.text for i in dockerfile if i.keyword == "RUN" and "useradd" in i.text]
    uid = re.search(r"--uid (\d+)", useradd)
    assert uid is not None and pod_spec(resources)["securityContext"]["runAsUser"] == int(uid.group(1))
    cache_dir = env_vars(dockerfile)["RERANK_CACHE_DIR"]
    assert environment(resources)["RERANK_CACHE_DIR"] == cache_dir
    mounts = {mount["mountPath"] for mount in main["volumeMounts"]}
    assert {cache_dir, "/tmp"} <= mounts  # the root filesystem is read-only
    assert main["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_environment_is_real_settings_that_load(variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = environment(rendered(variant))
    ours = {name for name in env if name.startswith(PREFIX)}
    assert ours <= {PREFIX + field.upper() for field in Settings.model_fields}
    assert env["RERANK_API_KEYS"] == {"secretKeyRef": {"name": "reranker-api-keys", "key": "keys"}}
    for name in [name for name in os.environ if name.startswith(PREFIX)]:
        monkeypatch.delenv(name)
    for name in ours:
        monkeypatch.setenv(name, env[name] if isinstance(env[name], str) else "key-from-the-secret")
    settings = Settings()
    assert settings.default_model == "prod" and settings.aliases == {"prod": "ms-marco-minilm-l6"}
    expected = {"base": ("cpu", "int8"), "gpu": ("cuda", "fp32")}[variant]
    assert (settings.device, settings.precision) == expected
    resources = container(rendered(variant))["resources"]
    assert settings.threads == int(resources["requests"]["cpu"])


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_service_autoscaler_and_budget_select_the_deployment_pods(variant: str) -> None:
    resources = rendered(variant)
    deployment = resources["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    service = resources["Service"]["spec"]
    assert service["selector"] == selector
    assert [port["targetPort"] for port in service["ports"]] == ["http"]
    assert resources["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    assert (
        resources["PodDisruptionBudget"]["spec"]["minAvailable"]
        < resources["HorizontalPodAutoscaler"]["spec"]["minReplicas"]
    ), "a budget as large as the minimum would block every node drain"
    target = resources["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert pod_spec(resources)["serviceAccountName"] == resources["ServiceAccount"]["metadata"]["name"]
    strategy = deployment["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0  # a rollout never drops below the warmed pods it had


def test_gpu_overlay_asks_for_a_gpu_node_and_caps_the_count() -> None:
    base, gpu = rendered("base"), rendered("gpu")
    assert (
        "nodeSelector" not in pod_spec(base)
        and "nvidia.com/gpu" not in container(base)["resources"]["limits"]
    )
    assert pod_spec(gpu)["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod_spec(gpu)[
        "tolerations"
    ]
    assert container(gpu)["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert (
        gpu["HorizontalPodAutoscaler"]["spec"]["maxReplicas"]
        < base["HorizontalPodAutoscaler"]["spec"]["maxReplicas"]
    )


def test_gpu_overlay_stops_when_the_base_env_moves(tmp_path: Path) -> None:
    import jsonpatch

    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    deployment = copy / "base" / "deployment.yaml"
    text = deployment.read_text()
    variant = "            - name: RERANK_PRECISION\n              value: int8\n"
    assert variant in text
    deployment.write_text(
        text.replace(variant, "").replace("          env:\n", "          env:\n" + variant, 1)
    )
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        render(copy / "gpu")
