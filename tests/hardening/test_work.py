"""One request cannot hold the scoring slot for minutes: admission by work, deadlines, cheap cuts.

- a request is admitted by its estimated tokens: past `max_admitted_tokens` of admitted work a
  request is refused with 429 at once (one larger than the bound runs only alone);
- past its deadline a request is answered 503 `deadline_exceeded` and its remaining batches
  are not scored (the slot is free when the answer comes);
- a 100,000-character document is cut by characters before tokenizing, to the same tokens;
- SIGTERM past the grace period answers what is still running or waiting 503 + Retry-After.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from reranker.api.app import create_app
from reranker.config import Settings
from reranker.cost import estimate_tokens
from reranker.errors import DeadlineExceeded, InvalidRequest
from reranker.manifest import Manifest
from reranker.model_store.local import LocalModelStore
from reranker.registry import ModelRegistry, runtime_options
from reranker.scoring.loader import load_scorer
from reranker.scoring.tokenize import TextEncoder, load_tokenizer
from reranker.scoring.types import RuntimeOptions, ScoreOptions, Scorer, ScoreResult
from reranker.types import RerankRequest
from tests.fixtures.uvicorn_server import serve_process
from tests.hardening.conftest import API_KEY, AUTH
from tests.hardening.servers import SLOW_BATCH, uvicorn_thread

TWENTY = {
    "model": "tiny-ce",
    "query": "immune response",
    "documents": [" ".join(["immune cells respond to the vaccine dose"] * 8)] * 20,
}


def wait_until(condition: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_the_cost_estimate_counts_rows_times_tokens_after_truncation(hardened_settings: Settings) -> None:
    request = RerankRequest(model="m", query="q" * 40, documents=["d" * 400, "d" * 40_000, "short"])
    # query 10 tokens; rows: 4 + 10 + min(tokens, 128 - 4 - 10 = 114)
    assert estimate_tokens(request, 128, hardened_settings) == (14 + 100) + (14 + 114) + (14 + 2)
    capped = request.model_copy(update={"max_tokens_per_document": 5})
    assert estimate_tokens(capped, 128, hardened_settings) == 3 * 14 + 5 + 5 + 2
    chunked = request.model_copy(update={"max_chunks_per_doc": 4})
    # the 10,000-token document needs more than 4 windows of 114: 4 rows of 128; and tokenizing
    # the 40,405 characters whole costs one token per 100 of them
    assert estimate_tokens(chunked, 128, hardened_settings) == (14 + 100) + 4 * 128 + (14 + 2) + 405


def test_chunking_past_the_characters_it_may_tokenize_is_400_before_admission(
    hardened_settings: Settings,
) -> None:
    settings = hardened_settings.model_copy(update={"max_chunked_chars": 50_000})
    request = RerankRequest(
        model="m", query="q", documents=["d" * 30_000, "d" * 20_001], max_chunks_per_doc=2
    )
    with pytest.raises(InvalidRequest) as refused:
        estimate_tokens(request, 128, settings)
    assert refused.value.param == "documents"
    assert "these hold 50001 characters, at most 50000 are chunked per request" in refused.value.message
    unchunked = request.model_copy(update={"max_chunks_per_doc": None})
    assert estimate_tokens(unchunked, 128, settings) == 2 * 128  # cut before tokenizing: no bound


BOMB: dict[str, Any] = {
    "model": "tiny-ce",
    "query": "immune response",
    # 60 documents of 99,000 characters, a 5.9 MB body, each tokenized whole to be chunked.
    "documents": [
        (f"doc {i} " + "immune cells respond to the vaccine dose " * 2500)[:99_000] for i in range(60)
    ],
    "max_chunks_per_doc": 2,
}


@pytest.mark.slow
def test_a_small_request_beside_eight_chunking_bombs_is_answered(tiny_cross_encoder_dir: Path) -> None:
    body = json.dumps(BOMB).encode()
    headers = {**AUTH, "Content-Type": "application/json"}
    # Eight 5.9 MB bodies at once would pass the default body budget (429 for some): it is
    # raised here so that every bomb reaches the chunking cap this test is about.
    env = {"RERANK_API_KEYS": API_KEY, "RERANK_MAX_BUFFERED_BODY_BYTES": str(64 * 1024 * 1024)}
    with serve_process(["--model", str(tiny_cross_encoder_dir)], env) as served:
        answers: list[tuple[int, str]] = []

        def bomb() -> None:
            response = httpx.post(f"{served.url}/v1/rerank", content=body, headers=headers, timeout=120)
            answers.append((response.status_code, response.text))

        bombs = [threading.Thread(target=bomb) for _ in range(8)]
        for thread in bombs:
            thread.start()
        time.sleep(0.5)
        started = time.monotonic()
        small = httpx.post(f"{served.url}/v1/rerank", json=TWENTY, headers=AUTH, timeout=60)
        waited = time.monotonic() - started
        for thread in bombs:
            thread.join(120)
    assert small.status_code == 200, small.text
    # "Not starved", not a speed: it waited 0.03 s here (2 cores, load 1.4); 10 s is 300x that.
    assert waited < 10.0, f"the small request waited {waited:.1f} s"
    assert len(answers) == 8
    for status, text in answers:
        assert status == 400, text
        assert "at most 1000000 are chunked per request" in text


HOLD_QUERY = "held until the test releases it"


class HeldScorer:
    """The real scorer; a request whose query is HOLD_QUERY waits for the test's `release` first.

    So a request holds its admitted work for exactly as long as the test says, however fast or
    loaded the machine: nothing can finish between the test's steps.
    """

    def __init__(self, inner: Scorer, entered: threading.Event, release: threading.Event) -> None:
        self.inner, self.entered, self.release = inner, entered, release
        self.manifest, self.provider, self.variant = inner.manifest, inner.provider, inner.variant

    def score(self, query: str, documents: Sequence[str], options: ScoreOptions) -> ScoreResult:
        if query == HOLD_QUERY:
            self.entered.set()
            if not self.release.wait(300):
                raise RuntimeError("the test never released the held request")
        return self.inner.score(query, documents, options)


def test_work_past_the_bound_is_refused_at_once_and_admitted_later(hardened_settings: Settings) -> None:
    settings = hardened_settings.model_copy(
        update={"max_concurrency": 1, "max_queue": 8, "max_admitted_tokens": 4096}
    )
    entered, release = threading.Event(), threading.Event()

    def load(folder: Path, manifest: Manifest, options: RuntimeOptions) -> Scorer:
        return HeldScorer(load_scorer(folder, manifest, options), entered, release)

    app = create_app(settings, registry=ModelRegistry(settings, loader=load))
    limiter = app.state.limiter
    held_request = {**SLOW_BATCH, "query": HOLD_QUERY}  # ~128k estimated tokens: over the bound
    with uvicorn_thread(app) as url:
        big: list[httpx.Response] = []
        sender = threading.Thread(
            target=lambda: big.append(
                httpx.post(f"{url}/v1/rerank", json=held_request, headers=AUTH, timeout=300)
            )
        )
        sender.start()  # admitted because it is alone, then held in its worker thread
        try:
            assert entered.wait(120), "the held request never reached the scorer"
            assert limiter.admitted == 1 and limiter.admitted_tokens > 4096
            # The small one's 429 must come at once, not after the held work: a server that queued
            # it would time this request out, since the held one is not released until it answers.
            refused = httpx.post(f"{url}/v1/rerank", json=TWENTY, headers=AUTH, timeout=30)
            assert sender.is_alive() and not big  # the held request was still in flight
        finally:
            release.set()
        # Whether refused before its body was read or after its cost was estimated: the same 429.
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "1"
        error = refused.json()["error"]
        assert error["type"] == "overloaded"
        assert "tokens of work" in error["message"] and "at most 4096 at once" in error["message"]
        sender.join(300)
        assert big[0].status_code == 200, big[0].text
        assert sorted(r["index"] for r in big[0].json()["results"]) == list(range(1000))
        assert limiter.admitted == 0 and limiter.admitted_tokens == 0
        admitted = httpx.post(f"{url}/v1/rerank", json=TWENTY, headers=AUTH, timeout=60)
        assert admitted.status_code == 200, admitted.text
        assert [r["index"] for r in admitted.json()["results"]] == list(range(20))  # 20 ties: input order


def test_past_its_deadline_a_request_is_503_and_its_batches_stop(hardened_settings: Settings) -> None:
    settings = hardened_settings.model_copy(
        update={"request_timeout_seconds": 0.3, "batch_token_budget": 256}
    )
    app = create_app(settings)
    batch = {**SLOW_BATCH, "model": "minilm"}  # seconds of work, in ~500 small batches
    app.state.service.warm("minilm")  # loaded beforehand: the deadline is then spent scoring
    with TestClient(app) as client:
        response = client.post("/v1/rerank", json=batch, headers=AUTH)
        assert app.state.limiter.admitted == 0  # the worker thread had ended when the answer came
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["type"] == "deadline_exceeded"
    assert "deadline of 0.3 s" in error["message"] and "remaining batches were not scored" in error["message"]
    assert response.headers["retry-after"] == "1"


def test_the_model_stops_between_batches_once_the_check_raises(default_model_dir: Path) -> None:
    settings = Settings(precision="fp32", batch_token_budget=256, max_batch_size=4)
    local = LocalModelStore().fetch(str(default_model_dir), label="minilm")
    scorer: Any = load_scorer(local.folder, local.manifest, runtime_options(settings))
    rows = scorer._encoder.encode_documents(["a document of a few words"] * 40, "end", None)
    checks = 0

    def check() -> None:
        nonlocal checks
        checks += 1
        if checks == 3:
            raise DeadlineExceeded("stop")

    with pytest.raises(DeadlineExceeded):
        scorer._model.run(rows, check=check)
    assert checks == 3  # two batches ran, the third and the seven after it did not


def test_a_long_document_is_cut_by_characters_to_the_same_tokens(default_model_dir: Path) -> None:
    tokenizer = load_tokenizer(str(default_model_dir / "tokenizer.json"))
    encoder = TextEncoder(tokenizer, 256, None)
    words = "the immune response to a vaccine dose depends on age and prior infection".split()
    long = " ".join(words[i % len(words)] + ("," if i % 7 == 0 else "") for i in range(20_000))
    assert len(long) > 100_000
    for truncate in ("end", "start"):
        (pair,) = encoder.encode_pairs("vaccine", [long], truncate, None)
        full = tokenizer.encode(long, add_special_tokens=False).ids
        query = tokenizer.encode("vaccine", add_special_tokens=False).ids
        fit = 256 - 3 - len(query)
        expected = full[:fit] if truncate == "end" else full[-fit:]
        assert pair.ids[len(query) + 2 : -1] == expected, truncate
    # Mostly spaces: the first cut holds too few tokens, so a longer one is read, to the same ids.
    sparse = (" " * 50 + "dose ") * 2_000
    (pair,) = encoder.encode_pairs("q", [sparse], "end", None)
    assert pair.ids[3:-1] == tokenizer.encode(sparse, add_special_tokens=False).ids[: 256 - 4]


def many_documents(seed: int, count: int) -> str:
    """Return a /v1/rerank body of `count` distinct 200-word documents for MiniLM."""
    words = "cell protein gene expression immune response patient study trial dose receptor".split()
    rng = random.Random(seed)
    documents = [" ".join(rng.choice(words) for _ in range(200)) for _ in range(count)]
    return json.dumps({"model": "all-minilm-l6-v2", "query": "immune response", "documents": documents})


@pytest.mark.slow
def test_sigterm_past_the_grace_period_answers_503_and_says_so(default_model_dir: Path) -> None:
    env = {
        "RERANK_API_KEYS": API_KEY,
        "RERANK_MAX_CONCURRENCY": "1",
        "RERANK_MAX_QUEUE": "4",
        "RERANK_MAX_DOCUMENTS": "5000",
        "RERANK_MAX_ADMITTED_TOKENS": "10000000",  # room for the second batch to wait
        "RERANK_EMBEDDING_CACHE_SIZE": "0",
    }
    answers: list[httpx.Response] = []
    with serve_process(["--model", str(default_model_dir), "--graceful-seconds", "1"], env) as served:

        def send(body: str) -> None:
            answers.append(
                httpx.post(
                    f"{served.url}/v1/rerank",
                    content=body,
                    headers={**AUTH, "Content-Type": "application/json"},
                    timeout=120,
                )
            )

        # ~1M tokens, far more than a second of work; then small ones that wait behind it.
        senders = [
            threading.Thread(target=send, args=(many_documents(seed, count),))
            for seed, count in ((0, 4000), (1, 20), (2, 20), (3, 20))
        ]
        senders[0].start()
        time.sleep(3.0)  # its 5 MB body is read and parsed: it is scoring
        for sender in senders[1:]:
            sender.start()
        time.sleep(0.5)
        served.process.send_signal(signal.SIGTERM)
        for sender in senders:
            sender.join(120)
        assert served.finish(timeout=60) == 0
    log = "".join(served.output)
    assert len(answers) == 4, log[-3000:]
    for response in answers:
        assert response.status_code == 503, response.text[:300]
        assert response.json()["error"]["type"] == "shutting_down"
        assert response.headers["retry-after"] == "1"
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "requests still running at the end of the grace period were answered 503" in log
    (stopped,) = [json.loads(line) for line in log.splitlines() if "stopped on SIGTERM" in line]
    assert stopped["requests"] == 4, log[-3000:]  # every request cut off is counted
    assert "after finishing the requests in flight" not in log
    assert "Traceback" not in log and "Internal Server Error" not in log
