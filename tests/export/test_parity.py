"""Parity figures and tolerance checks, on hand-made numbers with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("torch")

from reranker.export import parity
from reranker.export.errors import ExportError
from reranker.export.samples import sample_inputs
from reranker.manifest import ModelKind

pytestmark = pytest.mark.torch


def test_spearman_of_monotonic_and_reversed_orders() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0])
    assert parity.spearman(a, a**3) == pytest.approx(1.0)
    assert parity.spearman(a, -a) == pytest.approx(-1.0)


def test_spearman_averages_tied_ranks() -> None:
    # ranks (0.5, 0.5, 2) against (0, 1, 2): r = 0.866025...
    value = parity.spearman(np.array([1.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0]))
    assert value == pytest.approx(math.sqrt(3) / 2)


def test_pearson_is_nan_when_nothing_varies() -> None:
    assert math.isnan(parity.pearson(np.ones(4), np.arange(4.0)))


def test_positive_logit_orders_two_label_heads_by_class_one() -> None:
    logits = np.array([[0.0, 2.0], [1.0, 0.5]])
    assert parity.positive_logit(logits).tolist() == [2.0, -0.5]
    assert parity.positive_logit(np.array([[0.3], [0.1]])).tolist() == [0.3, 0.1]


def test_compare_embeddings_reports_cosines() -> None:
    reference = np.array([[1.0, 0.0], [0.0, 1.0]])
    output = np.array([[1.0, 0.0], [1.0, 1.0]])
    figures = parity.compare("bi-encoder", reference, output)
    assert figures == {
        "max_abs_diff": 1.0,
        "min_cosine": pytest.approx(0.707107),
        "mean_cosine": pytest.approx(0.853553),
    }


def test_check_names_the_measured_figure() -> None:
    figures = {"max_abs_diff": 0.0125, "spearman": 1.0, "pearson": 1.0}
    with pytest.raises(ExportError, match=r"fp32 parity .* max \|logit diff\| 0\.0125, needs <= 0\.001"):
        parity.check("cross-encoder", "fp32", figures, rows=10)
    parity.check("cross-encoder", "int8", figures, rows=10)  # int8 gates ranking, not abs diff


def test_check_fails_outputs_that_do_not_vary() -> None:
    figures = {"max_abs_diff": 0.0, "spearman": float("nan"), "pearson": float("nan")}
    with pytest.raises(ExportError, match="Spearman of logits nan"):
        parity.check("cross-encoder", "int8", figures, rows=10)


def test_int8_embeddings_need_both_min_and_mean_cosine() -> None:
    parity.check("bi-encoder", "int8", {"min_cosine": 0.94, "mean_cosine": 0.99}, rows=3)
    with pytest.raises(ExportError, match=r"mean cosine 0\.97"):
        parity.check("bi-encoder", "int8", {"min_cosine": 0.94, "mean_cosine": 0.97}, rows=3)
    with pytest.raises(ExportError, match=r"min cosine 0\.9,"):
        parity.check("bi-encoder", "int8", {"min_cosine": 0.9, "mean_cosine": 0.99}, rows=3)


def test_samples_include_a_text_longer_than_max_length() -> None:
    pairs = sample_inputs("cross-encoder", 300)
    texts = sample_inputs("bi-encoder", 300)
    assert all(len(row) == 2 for row in pairs) and all(len(row) == 1 for row in texts)
    assert max(len(d.split()) for _, d in pairs) > 300
    assert max(len(t.split()) for (t,) in texts) > 300
    assert len(pairs) == 49 and len(texts) == 15


@pytest.mark.parametrize(
    ("kind", "variant", "figures"),
    [
        ("cross-encoder", "int8", {"spearman": math.nan, "pearson": math.nan}),
        ("cross-encoder", "int8-static", {"spearman": 0.4, "pearson": 0.95}),
        ("bi-encoder", "int8", {"min_cosine": 0.5, "mean_cosine": 0.9}),
    ],
)
def test_an_int8_failure_says_how_to_keep_the_fp32_graph(
    kind: ModelKind, variant: str, figures: dict[str, float]
) -> None:
    # An untrained checkpoint fails int8 parity after the fp32 work: the message names the
    # exporter's real option, as the CLI spells it.
    from reranker.cli import build_parser

    args = build_parser().parse_args(["models", "export", "a", "b", "--name", "n", "--variants", "fp32"])
    assert args.variants == ["fp32"]
    with pytest.raises(ExportError) as caught:
        parity.check(kind, variant, figures, rows=10)
    assert str(caught.value).startswith(f"{variant} parity with PyTorch failed")
    assert "export it alone with `--variants fp32`" in str(caught.value)


def test_an_fp32_failure_does_not_suggest_fp32_alone() -> None:
    with pytest.raises(ExportError) as caught:
        parity.check("cross-encoder", "fp32", {"max_abs_diff": 0.5}, rows=10)
    assert "--variants" not in str(caught.value)
