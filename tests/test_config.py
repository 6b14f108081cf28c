"""Settings errors in one line naming the variable, misspelt `RERANK_*` variables warned about, and
settings renamed or retired kept working: the old name is still read, with a warning naming the new."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reranker.config import (
    OTHER_VARIABLES,
    RENAMED,
    RETIRED,
    Settings,
    load_settings,
    variable_names,
    warn_unknown_variables,
)
from reranker.errors import ConfigurationError

SRC = Path(__file__).resolve().parents[1] / "src"

# (variable, value, the one line's start): what a user sets wrong, and what we must say.
BAD = [
    ("RERANK_BATCH_TOKEN_BUDGET", "abc", "RERANK_BATCH_TOKEN_BUDGET='abc': must be a valid integer"),
    ("RERANK_MAX_DOCUMENTS", "0", "RERANK_MAX_DOCUMENTS='0': must be greater than or equal to 1"),
    ("RERANK_PRECISION", "int4", "RERANK_PRECISION='int4': must be 'fp32', 'int8' or 'bf16'"),
    ("RERANK_LOG_LEVEL", "debug", "RERANK_LOG_LEVEL='debug': must be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
    ("RERANK_MODELS", "{bad", "RERANK_MODELS is not JSON: Expecting property name"),
    ("RERANK_API_KEYS", "[bad", "RERANK_API_KEYS is not JSON: Expecting value"),
    ("RERANK_DEFAULT_MODEL", "nope", "RERANK_DEFAULT_MODEL 'nope' is not a served model or alias"),
    (
        "RERANK_ALIASES",
        '{"prod": "m"}',
        "RERANK_ALIASES: alias 'prod' points at 'm', which is not in RERANK_MODELS",
    ),
]


@pytest.mark.parametrize(("variable", "value", "start"), BAD)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, start: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = caught.value.message
    assert message.startswith(start), message
    assert "\n" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_secret_is_never_quoted_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RERANK_API_KEYS", '[1, {"k": "hunter2-secret"}]')
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert caught.value.message.startswith("RERANK_API_KEYS")
    assert "hunter2" not in caught.value.message


def test_the_variable_names_come_from_the_settings_class() -> None:
    names = variable_names()
    assert set(names.values()) == set(Settings.model_fields)
    assert names["RERANK_MAX_DOCUMENTS"] == "max_documents"
    assert not OTHER_VARIABLES & set(names)


def test_every_rerank_variable_named_in_src_is_a_setting_or_known_other() -> None:
    named = set()
    for path in SRC.rglob("*.py"):
        named |= set(re.findall(r"\bRERANK_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    stray = named - set(variable_names()) - OTHER_VARIABLES
    assert not stray, f"RERANK_* names in src/ that the unknown-variable warning would flag: {stray}"


def test_a_misspelt_variable_is_warned_about_with_the_closest_name(caplog: pytest.LogCaptureFixture) -> None:
    environ = {"RERANK_MAX_DOCUMENT": "5", "RERANK_MAX_DOCUMENTS": "5", "RERANK_EVAL_API_KEY": "k"}
    with caplog.at_level(logging.WARNING, logger="reranker.config"):
        lines = warn_unknown_variables(environ)
    expected = "RERANK_MAX_DOCUMENT is not a setting and is ignored; did you mean RERANK_MAX_DOCUMENTS?"
    assert lines == [expected]
    assert [record.getMessage() for record in caplog.records] == lines


def test_a_variable_like_no_setting_is_still_warned_about() -> None:
    (line,) = warn_unknown_variables({"RERANK_ZZZZZZZZ": "1"})
    assert line.startswith("RERANK_ZZZZZZZZ is not a setting and is ignored (")


def _env(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RERANK_")}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    return {**env, **variables}


@pytest.mark.parametrize(
    "argv",
    [["serve", "--port", "1"], ["models", "list", "s3://bucket/models"]],
    ids=["serve", "models-list"],
)
@pytest.mark.parametrize(("variable", "value", "start"), BAD)
def test_the_cli_prints_one_line_and_exits_2(argv: list[str], variable: str, value: str, start: str) -> None:
    code = "import sys; from reranker.cli import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", code, *argv],
        env=_env(**{variable: value}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"reranker: {result.stderr[10:].strip()}"]
    assert result.stderr.startswith(f"reranker: {start}"), result.stderr


def test_the_cli_warns_about_a_misspelt_variable_in_one_line() -> None:
    code = "import sys; from reranker.cli import main; sys.exit(main(sys.argv[1:]))"
    env = _env(RERANK_MAX_DOCUMENT="5", RERANK_PRECISION="int4")
    result = subprocess.run(
        [sys.executable, "-c", code, "serve"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "RERANK_MAX_DOCUMENT is not a setting and is ignored; did you mean RERANK_MAX_DOCUMENTS?",
        "reranker: RERANK_PRECISION='int4': must be 'fp32', 'int8' or 'bf16'",
    ]


def test_the_lambda_handler_import_raises_one_configuration_error() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import reranker.handler"],
        env=_env(RERANK_MODELS="{bad"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("reranker.errors.ConfigurationError: RERANK_MODELS is not JSON: "), last
    assert "pydantic" not in result.stderr and "During handling" not in result.stderr


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "reranker.config" and r.levelno == logging.WARNING
    ]


@pytest.mark.parametrize(
    ("old", "new", "value", "expected"),
    [
        ("VARIANT", "precision", "fp32", "fp32"),
        ("PROVIDERS", "device", "cpu", "cpu"),
        ("BACKEND", "runtime", "onnxruntime", "onnxruntime"),
        ("MAX_QUEUED_TOKENS", "max_admitted_tokens", "4096", 4096),
        ("DETERMINISTIC", "rows_alone", "false", False),
    ],
)
def test_a_renamed_setting_is_read_under_its_old_name_with_a_warning(
    old: str,
    new: str,
    value: str,
    expected: object,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(f"RERANK_{old}", value)
    with caplog.at_level(logging.WARNING, logger="reranker.config"):
        settings = Settings()
    assert getattr(settings, new) == expected
    assert warnings_of(caplog) == [f"RERANK_{old} is deprecated: set RERANK_{new.upper()} instead"]


def test_the_new_name_wins_over_the_old_one(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("RERANK_VARIANT", "fp32")
    monkeypatch.setenv("RERANK_PRECISION", "bf16")
    with caplog.at_level(logging.WARNING, logger="reranker.config"):
        assert Settings().precision == "bf16"
    assert warnings_of(caplog) == ["RERANK_VARIANT is deprecated and ignored: RERANK_PRECISION is set too"]


def test_an_old_name_in_code_is_taken_too(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="reranker.config"):
        assert Settings(variant="fp32").precision == "fp32"
    assert warnings_of(caplog) == ["RERANK_VARIANT is deprecated: set RERANK_PRECISION instead"]


def test_an_old_name_with_a_bad_value_fails_naming_the_new_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RERANK_BACKEND", "tensorrt")
    with pytest.raises(ValueError, match="runtime"):
        Settings()


def test_a_retired_setting_is_still_honoured_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("RERANK_BACKLOG", "512")
    monkeypatch.setenv("RERANK_SPIN_THREADS", "true")
    with caplog.at_level(logging.WARNING, logger="reranker.config"):
        settings = Settings()
    assert (settings.backlog, settings.spin_threads) == (512, True)
    assert warnings_of(caplog) == [
        f"RERANK_BACKLOG is deprecated and will be removed: {RETIRED['backlog']}",
        f"RERANK_SPIN_THREADS is deprecated and will be removed: {RETIRED['spin_threads']}",
    ]


def test_batching_knobs_warn_only_while_they_do_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="reranker.config"):
        Settings(batch_token_budget=2048)
        Settings(batch_token_budget=2048, rows_alone=False)
    assert warnings_of(caplog) == [
        "RERANK_BATCH_TOKEN_BUDGET does nothing while RERANK_ROWS_ALONE is true (every row runs alone)"
    ]


def test_the_defaults_warn_about_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="reranker.config"):
        Settings()
    assert warnings_of(caplog) == []
    assert set(RENAMED.values()) <= set(Settings.model_fields)
    assert not set(RENAMED) & set(Settings.model_fields)


def readme_settings_table() -> list[tuple[list[str], list[str]]]:
    """Return (variables, their defaults) per row of the README's settings table."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`RERANK_"):
            continue
        variables = re.findall(r"`(RERANK_[A-Z0-9_]+)`", cells[0])
        defaults = [part.strip() for part in cells[1].split(" / ")] if "/" in cells[0] else [cells[1]]
        rows.append((variables, defaults * len(variables) if len(defaults) == 1 else defaults))
    return rows


def rendered_default(value: object) -> str:
    """Return a default as the README writes it: `true`, `{}`, `131072`, `0.25`, none."""
    if value is None or value == []:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, dict | list):
        return f"`{json.dumps(value)}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def test_the_readme_documents_every_setting_and_only_settings() -> None:
    names = variable_names()
    documented = [variable for variables, _ in readme_settings_table() for variable in variables]
    assert len(documented) == len(set(documented)), "a setting is documented twice"
    old_names = {f"RERANK_{old.upper()}" for old in RENAMED}
    assert not set(documented) & old_names, "the table names a renamed setting by its old name"
    assert set(documented) <= set(names), sorted(set(documented) - set(names))
    assert {names[v] for v in documented} == set(Settings.model_fields) - set(RETIRED)


def test_the_readme_gives_each_setting_its_real_default() -> None:
    names = variable_names()
    for variables, defaults in readme_settings_table():
        for variable, default in zip(variables, defaults, strict=True):
            value = Settings.model_fields[names[variable]].get_default(call_default_factory=True)
            if value is None and not default.startswith("`"):
                continue  # "none", or prose for a default computed at run time
            written = default.split(" (", 1)[0]  # "`0` (all cores)": the value before the note
            assert written == rendered_default(value), (variable, default)
