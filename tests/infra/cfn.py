"""The SAM template as data: loaded with cfn-lint's decoder, intrinsics resolved for given parameters.

A small evaluator for the intrinsics the template uses (Ref, Fn::If, Fn::Sub, Fn::GetAtt,
Fn::Equals, Fn::Not), so tests can check what a deployment with these parameters would put in
the function's environment and IAM policy, and feed that to the real Settings class.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
TEMPLATE = INFRA / "template.yaml"

NO_VALUE = object()
_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """Return the template as plain data, `!Ref x` as `{"Ref": "x"}` (cfn-lint's own decoder)."""
    from cfnlint.decode import decode

    template, matches = decode(str(path))
    assert not matches, [str(match) for match in matches]
    assert template is not None
    plain: dict[str, Any] = _plain(template)
    return plain


def _plain(value: Any) -> Any:
    """Return cfn-lint's node types (str_node, dict_node) as built-in str, dict and list."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return str(value)
    return value


class Resolver:
    """Evaluates intrinsics against parameter values and stand-ins for resource ids."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        resources: Mapping[str, str],
        pseudo: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        defaults = {
            name: str(spec["Default"]) for name, spec in template["Parameters"].items() if "Default" in spec
        }
        self.parameters = {**defaults, **parameters}
        missing = set(template["Parameters"]) - set(self.parameters)
        assert not missing, f"parameters without a value or default: {sorted(missing)}"
        self.resources = dict(resources)
        self.pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": "us-east-1",
            "AWS::AccountId": "123456789012",
            "AWS::StackName": "reranker",
            "AWS::URLSuffix": "amazonaws.com",
            **(pseudo or {}),
        }

    def condition(self, name: str) -> bool:
        """Return the value of the template's condition `name`."""
        result = self.resolve(self.template["Conditions"][name])
        assert isinstance(result, bool), (name, result)
        return result

    def resolve(self, node: Any) -> Any:
        """Return `node` with every intrinsic evaluated; AWS::NoValue entries are dropped."""
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Equals":
                left, right = (self.resolve(item) for item in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                (inner,) = arg
                return not self.resolve(inner)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::GetAtt":
                resource, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return f"{self.resources[resource]}.{attribute}"
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.resources[name]

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        values = {name: self.resolve(value) for name, value in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in values:
                return str(values[name])
            if "." in name:
                resource, attribute = name.split(".", 1)
                return f"{self.resources[resource]}.{attribute}"
            return str(self._ref(name))

        return _SUB_VAR.sub(replace, text)
