"""Settings renamed or retired keep working: the old name is still read, with a warning naming the new."""

from __future__ import annotations

import logging

import pytest

from reranker.config import RENAMED, RETIRED, Settings


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "reranker.config" and r.levelno == logging.WARNING
    ]


@pytest.mark.parametrize(
    ("old", "new", "value"),
    [("VARIANT", "precision", "fp32"), ("PROVIDERS", "device", "cpu"), ("BACKEND", "runtime", "onnxruntime")],
)
def test_a_renamed_setting_is_read_under_its_old_name_with_a_warning(
    old: str, new: str, value: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(f"RERANK_{old}", value)
    with caplog.at_level(logging.WARNING, logger="reranker.config"):
        settings = Settings()
    assert getattr(settings, new) == value
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
        Settings(batch_token_budget=2048, deterministic=False)
    assert warnings_of(caplog) == [
        "RERANK_BATCH_TOKEN_BUDGET does nothing while RERANK_DETERMINISTIC is true (every row runs alone)"
    ]


def test_the_defaults_warn_about_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="reranker.config"):
        Settings()
    assert warnings_of(caplog) == []
    assert set(RENAMED.values()) <= set(Settings.model_fields)
    assert not set(RENAMED) & set(Settings.model_fields)
