"""infra/template.yaml: lints clean, and agrees with the code it deploys.

The agreement tests evaluate the template for a few parameter sets (see `cfn.Resolver`) and
hand the resulting environment to the real Settings class, the real S3 URI parser and the
real CLI, so a renamed setting, a changed model layout or a wrong IAM prefix fails here.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import shutil
import subprocess
import tomllib
from typing import Any

import pytest

from reranker.config import Settings
from reranker.manifest import MANIFEST_NAME
from reranker.s3uri import parse_s3_uri
from tests.infra.cfn import INFRA, REPO, TEMPLATE, Resolver, load_template

PREFIX = str(Settings.model_config.get("env_prefix"))
BUCKET_STANDIN = "reranker-modelsbucket-1a2b3c4d5e6f"
SECRET_STANDIN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ApiKeysSecret-AbCdEf"
EXISTING_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:team/reranker-keys-XyZ123"
RESOURCES = {
    "ModelsBucket": BUCKET_STANDIN,
    "ApiKeysSecret": SECRET_STANDIN,
    "HttpApi": "a1b2c3d4e5",
    "RerankFunction": "reranker-RerankFunction-ABC",
    "FunctionLogGroup": "/aws/lambda/reranker-reranker",
    "ApiAccessLogGroup": "/aws/apigateway/reranker-reranker",
}

# Parameter sets: the defaults (new bucket, new secret), an existing bucket and secret with an
# alias as the default, and a model baked into the image.
SCENARIOS: dict[str, dict[str, str]] = {
    "new-bucket": {"ModelName": "ms-marco-minilm-l6", "ModelVersion": "3"},
    "existing-bucket-and-secret": {
        "ModelName": "bge-reranker-base",
        "ModelVersion": "2024-06-01",
        "ModelsBucketName": "acme-ml-models",
        "ModelsPrefix": "rerankers/prod/",
        "ExistingApiKeysSecretArn": EXISTING_SECRET,
        "ModelAliases": '{"prod": "bge-reranker-base", "deployment-7": "bge-reranker-base"}',
        "DefaultModel": "prod",
        "Variant": "fp32",
        "ReservedConcurrency": "20",
        "ProvisionedConcurrency": "2",
        "AlarmTopicArn": "arn:aws:sns:eu-west-1:123456789012:oncall",
    },
    "baked": {"ModelName": "tiny-ce", "ModelUri": "/opt/reranker/model"},
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def resolved(template: dict[str, Any], scenario: str) -> tuple[Resolver, dict[str, Any]]:
    resolver = Resolver(template, SCENARIOS[scenario], RESOURCES)
    function = resolver.resolve(template["Resources"]["RerankFunction"])
    return resolver, function


def settings_from(environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Return Settings read the way Lambda init reads them: from these environment variables."""
    for name in list(os.environ):
        if name.startswith(PREFIX):
            monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_cfn_lint_passes_with_informational_checks() -> None:
    api = pytest.importorskip("cfnlint.api", reason="cfn-lint is in the [dev] extra")
    config = api.ManualArgs(regions=["us-east-1", "eu-west-1", "ap-southeast-2"], include_checks=["I"])
    matches = api.lint_file(TEMPLATE, config=config)
    assert [str(match) for match in matches] == []


def test_sam_validate_lint_passes() -> None:
    sam = shutil.which("sam")
    if sam is None:
        pytest.skip("AWS SAM CLI not on PATH (pip install aws-sam-cli into its own venv to run this)")
    result = subprocess.run(
        [sam, "validate", "--lint", "--template-file", str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_handler_in_template_is_the_lambda_entry_point(template: dict[str, Any]) -> None:
    function = template["Resources"]["RerankFunction"]
    assert function["Properties"]["PackageType"] == "Image"
    (command,) = function["Properties"]["ImageConfig"]["Command"]
    module_name, _, attribute = command.rpartition(".")
    assert (module_name, attribute) == ("reranker.handler", "handler")
    # Read, not imported: importing the handler runs Lambda init (settings, keys, model).
    source = (REPO / "src" / "reranker" / "handler.py").read_text()
    assigned = {
        target.id
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert attribute in assigned


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_rerank_variable_is_a_setting_and_loads(
    template: dict[str, Any], scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, function = resolved(template, scenario)
    environment: dict[str, str] = function["Properties"]["Environment"]["Variables"]
    ours = {name for name in environment if name.startswith(PREFIX)}
    fields = {PREFIX + field.upper() for field in Settings.model_fields}
    assert ours <= fields, f"not settings: {sorted(ours - fields)}"
    assert set(environment) - ours == {"DEPLOY_REVISION"}

    settings = settings_from(environment, monkeypatch)
    assert settings.default_model is not None
    assert settings.api_keys_secret_id == environment["RERANK_API_KEYS_SECRET_ID"]
    assert str(settings.cache_dir).startswith("/tmp/")  # Lambda's only writable place
    assert settings.device == "cpu"


def test_default_deployment_serves_the_published_model_from_the_new_bucket(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver, function = resolved(template, "new-bucket")
    environment = function["Properties"]["Environment"]["Variables"]
    settings = settings_from(environment, monkeypatch)
    uri = f"s3://{BUCKET_STANDIN}/models/ms-marco-minilm-l6/3/"
    assert settings.models == {"ms-marco-minilm-l6": uri}
    assert settings.aliases == {}
    assert settings.default_model == "ms-marco-minilm-l6"
    assert settings.precision == "int8"
    assert settings.api_keys_secret_id == SECRET_STANDIN
    # `reranker models publish <folder> <ModelsRoot output>` writes exactly where this reads.
    outputs = resolver.resolve(template["Outputs"])
    root = parse_s3_uri(outputs["ModelsRoot"]["Value"], require_prefix=False)
    assert root.child("ms-marco-minilm-l6", "3") == parse_s3_uri(uri)
    assert outputs["ApiKeysSecretArn"]["Value"] == SECRET_STANDIN


def test_existing_bucket_secret_and_alias(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    resolver, function = resolved(template, "existing-bucket-and-secret")
    assert not resolver.condition("CreateModelsBucket")
    assert not resolver.condition("CreateApiKeysSecret")
    settings = settings_from(function["Properties"]["Environment"]["Variables"], monkeypatch)
    assert settings.models == {
        "bge-reranker-base": "s3://acme-ml-models/rerankers/prod/bge-reranker-base/2024-06-01/"
    }
    assert settings.aliases == {"prod": "bge-reranker-base", "deployment-7": "bge-reranker-base"}
    assert settings.default_model == "prod"
    assert settings.precision == "fp32"
    assert settings.api_keys_secret_id == EXISTING_SECRET
    properties = function["Properties"]
    assert properties["ReservedConcurrentExecutions"] == "20"
    assert properties["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": "2"}


def test_baked_model_is_served_from_the_image_path(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, function = resolved(template, "baked")
    settings = settings_from(function["Properties"]["Environment"]["Variables"], monkeypatch)
    assert settings.models == {"tiny-ce": "/opt/reranker/model"}
    lambda_dockerfile = (INFRA / "Dockerfile.lambda").read_text()
    assert "/opt/reranker/model/" in lambda_dockerfile


def _statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    policies = function["Properties"]["Policies"]
    assert len(policies) == 1, "one inline policy, no managed policy templates"
    statements: list[dict[str, Any]] = policies[0]["Statement"]
    return statements


@pytest.mark.parametrize("scenario", ["new-bucket", "existing-bucket-and-secret"])
def test_iam_is_read_only_on_the_model_prefix_and_the_one_secret(
    template: dict[str, Any], scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver, function = resolved(template, scenario)
    statements = _statements(function)
    assert all(statement["Effect"] == "Allow" for statement in statements)
    by_action = {statement["Action"]: statement for statement in statements}
    assert set(by_action) == {"s3:GetObject", "s3:ListBucket", "secretsmanager:GetSecretValue"}

    settings = settings_from(function["Properties"]["Environment"]["Variables"], monkeypatch)
    (uri,) = settings.models.values()
    model = parse_s3_uri(uri)
    bucket = resolver.resolve(
        {"Fn::If": ["CreateModelsBucket", {"Ref": "ModelsBucket"}, {"Ref": "ModelsBucketName"}]}
    )
    prefix = resolver.parameters["ModelsPrefix"]

    get_object = by_action["s3:GetObject"]["Resource"]
    assert get_object == f"arn:aws:s3:::{bucket}/{prefix}*"
    # Every object the store reads for this model is allowed; neighbours outside the prefix are not.
    for name in (MANIFEST_NAME, "model.int8.onnx", "tokenizer.json"):
        assert fnmatch.fnmatchcase(f"arn:aws:s3:::{model.bucket}/{model.key(name)}", get_object)
    assert not fnmatch.fnmatchcase(f"arn:aws:s3:::{bucket}/other/{MANIFEST_NAME}", get_object)
    assert not fnmatch.fnmatchcase(f"arn:aws:s3:::other-bucket/{prefix}x/{MANIFEST_NAME}", get_object)

    listing = by_action["s3:ListBucket"]
    assert listing["Resource"] == f"arn:aws:s3:::{bucket}"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": f"{prefix}*"}}

    secret = by_action["secretsmanager:GetSecretValue"]["Resource"]
    assert secret == settings.api_keys_secret_id
    assert "*" not in secret


def test_routes_reach_every_app_route_with_http_api_payload_v2(template: dict[str, Any]) -> None:
    events = template["Resources"]["RerankFunction"]["Properties"]["Events"]
    (event,) = events.values()
    assert event["Type"] == "HttpApi"
    # Neither Path nor Method: the $default route, so /v1/rerank, /v1/models, /health, /docs
    # and any route added later reach the app, whose own 404 answers the rest.
    assert set(event["Properties"]) == {"ApiId", "PayloadFormatVersion"}
    assert event["Properties"]["PayloadFormatVersion"] == "2.0"


def test_parameters_alarms_logs_and_output(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    for name in (
        "MemorySize",
        "EphemeralStorageSize",
        "Timeout",
        "ReservedConcurrency",
        "ProvisionedConcurrency",
        "LogRetentionInDays",
        "ModelUri",
        "ModelsBucketName",
    ):
        assert name in parameters
    # API Gateway gives up at 30 s; a longer default would only hide slow requests.
    assert parameters["Timeout"]["Default"] <= 30
    # The app's body cap must fit Lambda's 6 MB synchronous payload.
    assert Settings.model_fields["max_body_bytes"].default <= 6 * 1024 * 1024

    resolver = Resolver(template, SCENARIOS["new-bucket"], RESOURCES)
    resources = resolver.resolve(template["Resources"])
    alarms = {
        props["MetricName"]: props
        for resource in resources.values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
        for props in [resource["Properties"]]
    }
    assert set(alarms) == {"Errors", "Throttles", "Duration", "5xx"}
    assert alarms["Duration"]["ExtendedStatistic"] == "p99"
    for metric in ("Errors", "Throttles", "Duration"):
        assert alarms[metric]["Dimensions"] == [
            {"Name": "FunctionName", "Value": RESOURCES["RerankFunction"]}
        ]
    assert "AlarmActions" not in alarms["Errors"]  # no topic given: no actions

    log_groups = [r for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert len(log_groups) == 2
    assert all(group["Properties"]["RetentionInDays"] == "30" for group in log_groups)
    function = resources["RerankFunction"]["Properties"]
    assert function["LoggingConfig"]["LogGroup"] == RESOURCES["FunctionLogGroup"]

    url = resolver.resolve(template["Outputs"]["ApiUrl"]["Value"])
    assert url == "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"


def test_sam_builds_the_image_from_the_lambda_dockerfile(template: dict[str, Any]) -> None:
    metadata = template["Resources"]["RerankFunction"]["Metadata"]
    context = (INFRA / metadata["DockerContext"]).resolve()
    assert context == REPO
    dockerfile = context / metadata["Dockerfile"]
    assert dockerfile == INFRA / "Dockerfile.lambda"
    text = dockerfile.read_text()
    for name, value in metadata["DockerBuildArgs"].items():
        assert f"ARG {name}=" in text
        assert (REPO / value).is_dir()


def test_secret_format_documented_where_operators_look(template: dict[str, Any]) -> None:
    description = template["Resources"]["ApiKeysSecret"]["Properties"]["Description"]
    from reranker.keystore import parse_keys

    # The formats the description promises are the ones the loader reads.
    assert parse_keys(json.dumps(["a", "b"])) == ["a", "b"]
    assert parse_keys(json.dumps({"keys": ["a", "b"]})) == ["a", "b"]
    assert parse_keys("a,b") == ["a", "b"]
    assert '["key-1","key-2"]' in description and '{"keys":[...]}' in description
    generated = template["Resources"]["ApiKeysSecret"]["Properties"]["GenerateSecretString"]
    # A generated key must be one comma-free token: the plain-string form with one key.
    assert generated["ExcludePunctuation"] is True and generated["IncludeSpace"] is False


def test_samconfig_example_names_real_parameters_and_deploys_valid_settings(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with (INFRA / "samconfig.example.toml").open("rb") as handle:
        config = tomllib.load(handle)
    assert config["default"]["build"]["parameters"]["use_buildkit"] is True
    deploy = config["default"]["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    overrides: dict[str, str] = {}
    for item in deploy["parameter_overrides"]:
        name, _, value = item.partition("=")
        # SAM splits a value at a double quote unless the value is wrapped in single quotes.
        if '"' in value:
            assert value.startswith("'") and value.endswith("'"), item
            value = value[1:-1]
        overrides[name] = value
    assert set(overrides) <= set(template["Parameters"])
    resolver = Resolver(template, overrides, RESOURCES)
    function = resolver.resolve(template["Resources"]["RerankFunction"])
    settings = settings_from(function["Properties"]["Environment"]["Variables"], monkeypatch)
    assert settings.models == {"ms-marco-minilm-l6": "s3://acme-reranker-models/models/ms-marco-minilm-l6/1/"}
    assert settings.aliases == {"prod": "ms-marco-minilm-l6"}
    assert settings.default_model == "prod"
