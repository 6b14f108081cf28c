"""Render infra/k8s kustomizations offline: the subset of kustomize those files use, nothing more.

No kustomize or kubectl can be installed here (Debian's kubectl is 1.20, whose kustomize predates
`patches:`), so this reads `resources` (files and folders), `images` (name -> newName:newTag)
and `patches` (JSON 6902 operations, applied with the `jsonpatch` library, `test` included),
and refuses any other field, so a kustomization that grows past it fails loudly here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonpatch
import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "images", "patches"}


def load_documents(path: Path) -> list[dict[str, Any]]:
    """Return the YAML documents of `path`, skipping empty ones."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(folder: Path) -> list[dict[str, Any]]:
    """Return the resources `kubectl apply -k folder` would send, in order."""
    kustomization = load_documents(folder / "kustomization.yaml")[0]
    unknown = set(kustomization) - SUPPORTED
    assert not unknown, f"{folder}: fields this renderer does not implement: {sorted(unknown)}"
    assert kustomization["kind"] == "Kustomization"
    resources: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = (folder / entry).resolve()
        resources.extend(render(path) if path.is_dir() else load_documents(path))
    for image in kustomization.get("images", []):
        new = f"{image.get('newName', image['name'])}:{image['newTag']}"
        for resource in resources:
            for container in _containers(resource):
                if container["image"].split(":")[0] == image["name"]:
                    container["image"] = new
    for patch in kustomization.get("patches", []):
        target = patch["target"]
        matches = [r for r in resources if _matches(r, target)]
        assert len(matches) == 1, f"patch target {target} matches {len(matches)} resources"
        operations = yaml.safe_load(patch["patch"])
        patched = jsonpatch.apply_patch(matches[0], operations)  # raises on a failed `test`
        resources[resources.index(matches[0])] = patched
    return resources


def _containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    spec = resource.get("spec", {}).get("template", {}).get("spec", {})
    containers: list[dict[str, Any]] = spec.get("containers", []) + spec.get("initContainers", [])
    return containers


def _matches(resource: dict[str, Any], target: dict[str, str]) -> bool:
    group, _, version = str(resource["apiVersion"]).rpartition("/")
    return bool(
        resource["kind"] == target["kind"]
        and resource["metadata"]["name"] == target["name"]
        and group == target.get("group", "")
        and version == target["version"]
    )
