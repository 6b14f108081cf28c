"""Candidates -> rerank requests -> scores, saved per query as they come so a run can resume.

The scores file is JSON lines: a header naming what the scores belong to (dataset fingerprint,
split, first stage, top-k, model), then one line per finished query with every candidate's
score at full float precision. A restarted run skips the queries already there; a line cut
short by a kill is dropped and redone. Documents go out as {"id", "title", "text"} objects in
first-stage order, so the service's title-first rule applies over HTTP and in process alike.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reranker.eval.datasets import Dataset, Document
from reranker.eval.errors import EvalError
from reranker.eval.runs import Run, ranked
from reranker.eval.targets import Target
from reranker.fusion import Fusion, fuse
from reranker.types import RerankRequest

logger = logging.getLogger(__name__)


def build_request(
    model: str,
    query: str,
    documents: list[tuple[str, Document]],
    first_stage: list[float] | None = None,
    fusion: Fusion | None = None,
) -> RerankRequest:
    """Return the request for one query: documents as objects, an empty title left out; with
    `fusion`, the first-stage scores ride along so the service returns the fused ranking."""
    payload: list[dict[str, str]] = []
    for doc_id, doc in documents:
        item = {"id": doc_id, "title": doc.title, "text": doc.text}
        if not doc.title:
            del item["title"]
        payload.append(item)
    body: dict[str, Any] = {"model": model, "query": query, "documents": payload}
    if fusion is not None:
        body["extra_body"] = {"first_stage_scores": first_stage, "fusion": fusion.describe()}
    return RerankRequest.model_validate(body)


@dataclass(frozen=True)
class QueryScores:
    """One query's answer: the model's score of each document, the fused score (with fusion)."""

    scores: dict[str, float]
    prompt_tokens: int
    fused: dict[str, float] | None = None
    # The fusion the fused scores were made with (its describe()), None without fusion.
    fusion: dict[str, Any] | None = None


class ScoreLog:
    """The append-only scores file of one eval run."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self.header = header

    def load(
        self, candidates: Mapping[str, Mapping[str, float]], fusion: Fusion | None = None
    ) -> dict[str, QueryScores]:
        """Return the queries already scored, fused with `fusion`; starts the file when absent.

        A line fused another way (or not at all) is fused again here from its model scores, by
        the function the service fuses with, on the same inputs: the same bits the API returns.
        """
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temp = self.path.with_name(self.path.name + ".tmp")
            temp.write_text(json.dumps({"header": self.header}) + "\n", encoding="utf-8")
            os.replace(temp, self.path)
            return {}
        name = self.path.name
        done: dict[str, QueryScores] = {}
        with self.path.open("rb") as handle:
            lines = handle.readlines()
        good_bytes = 0
        for number, raw in enumerate(lines, start=1):
            try:
                record = json.loads(raw)
                if not raw.endswith(b"\n"):
                    raise ValueError("no newline: the write was cut short")
            except ValueError as exc:
                if number == len(lines) and number > 1:
                    logger.warning("%s line %d was cut short (a killed run): scoring it again", name, number)
                    with self.path.open("r+b") as handle:
                        handle.truncate(good_bytes)
                    break
                raise EvalError(
                    f"{name} line {number} is not valid JSON; delete the file or pass --restart"
                ) from exc
            good_bytes += len(raw)
            if not isinstance(record, dict):
                raise EvalError(
                    f"{name} line {number} is not a JSON object; delete the file or pass --restart"
                )
            if number == 1:
                self._check_header(record)
            elif (scored := self._scored_query(record, number, candidates)) is not None:
                query, answer = scored
                done[query] = fused_with(answer, candidates[query], fusion)
        return done

    def _scored_query(
        self, record: dict[str, Any], number: int, candidates: Mapping[str, Mapping[str, float]]
    ) -> tuple[str, QueryScores] | None:
        """Return line `number`'s query and scores; None for a query this run does not evaluate."""
        name = self.path.name
        query, scores = record.get("query_id"), record.get("scores")
        tokens, fused = record.get("prompt_tokens"), record.get("fused")
        if (
            not isinstance(query, str)
            or not isinstance(tokens, int)
            or not isinstance(scores, dict)
            or not isinstance(fused, dict | None)
        ):
            raise EvalError(f"{name} line {number} lacks query_id, scores or prompt_tokens; pass --restart")
        if query not in candidates:
            return None  # scored by a run over more queries (--max-queries): kept, not needed now
        if set(scores) != set(candidates[query]):
            raise EvalError(
                f"{name} line {number}: query {query!r} was scored on other candidates than this "
                "run's; pass --restart or choose another output folder"
            )
        return query, QueryScores(
            {doc: float(value) for doc, value in scores.items()},
            tokens,
            {doc: float(value) for doc, value in fused.items()} if fused is not None else None,
            record.get("fusion") if fused is not None else None,
        )

    def _check_header(self, record: dict[str, Any]) -> None:
        stored = record.get("header")
        if stored != self.header:
            keys = sorted(
                k for k in self.header if not isinstance(stored, dict) or stored.get(k) != self.header[k]
            )
            raise EvalError(
                f"{self.path.name} holds scores of another run (differs in: {', '.join(keys) or 'format'}); "
                "pass --restart to discard them or choose another output folder"
            )

    def append(self, query: str, answer: QueryScores) -> None:
        """Add one finished query and push it to disk before going on."""
        record: dict[str, Any] = {
            "query_id": query,
            "scores": answer.scores,
            "prompt_tokens": answer.prompt_tokens,
        }
        if answer.fused is not None:
            record["fused"] = answer.fused
            record["fusion"] = answer.fusion
        line = json.dumps(record)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def fused_with(answer: QueryScores, candidates: Mapping[str, float], fusion: Fusion | None) -> QueryScores:
    """Return `answer` fused with `fusion` (as the service fuses), reusing its fused scores when
    they were made that way; without fusion, the model scores alone."""
    wanted = fusion.describe() if fusion is not None else None
    if wanted == answer.fusion:
        return answer
    if fusion is None:
        return QueryScores(answer.scores, answer.prompt_tokens)
    doc_ids = [doc for doc, _ in ranked(candidates)]  # the request's order
    model = np.array([answer.scores[doc] for doc in doc_ids], dtype=np.float64)
    first = np.array([float(candidates[doc]) for doc in doc_ids], dtype=np.float64)
    fused = fuse(model, first, fusion)
    return QueryScores(
        answer.scores,
        answer.prompt_tokens,
        {doc: float(value) for doc, value in zip(doc_ids, fused, strict=True)},
        wanted,
    )


@dataclass(frozen=True)
class RerankOutcome:
    run: Run
    prompt_tokens: int
    scored_now: int
    documents_scored_now: int
    resumed: int
    fused_run: Run | None = None


def _score_query(
    target: Target,
    model: str,
    dataset: Dataset,
    query: str,
    candidates: Mapping[str, float],
    fusion: Fusion | None,
) -> QueryScores:
    ranking = ranked(candidates)
    doc_ids = [doc for doc, _ in ranking]
    request = build_request(
        model,
        dataset.queries[query],
        [(doc, dataset.corpus[doc]) for doc in doc_ids],
        first_stage=[float(score) for _, score in ranking],
        fusion=fusion,
    )
    response = target.rerank(request)
    if {result.index for result in response.results} != set(range(len(doc_ids))):
        raise EvalError(f"the answer for query {query!r} did not score every document")
    if fusion is None:
        scores = {doc_ids[result.index]: result.relevance_score for result in response.results}
        return QueryScores(scores, response.usage.prompt_tokens)
    if any(result.model_score is None for result in response.results):
        raise EvalError(f"the answer for query {query!r} has no model_score: the API does not fuse")
    return QueryScores(
        {doc_ids[result.index]: float(result.model_score or 0.0) for result in response.results},
        response.usage.prompt_tokens,
        {doc_ids[result.index]: result.relevance_score for result in response.results},
        fusion.describe(),
    )


class Progress:
    """Plain progress lines (done, rate, ETA) at most every `interval` seconds and at the end.

    Lines rather than a redrawn bar, so CI logs show a long gate run moving.
    """

    def __init__(self, total: int, done: int, *, enabled: bool, interval: float = 15.0) -> None:
        self.total, self.done, self.enabled, self.interval = total, done, enabled, interval
        self._start_done = done
        self._started = self._last = time.monotonic()

    def advance(self) -> None:
        self.done += 1
        now = time.monotonic()
        if self.enabled and (now - self._last >= self.interval or self.done == self.total):
            self._last = now
            elapsed = now - self._started
            rate = (self.done - self._start_done) / elapsed if elapsed > 0 else 0.0
            eta = (self.total - self.done) / rate if rate > 0 else float("nan")
            logger.info(
                "reranked %d/%d queries (%.0f%%), %.2f queries/s, ETA %.0f s",
                self.done,
                self.total,
                100.0 * self.done / max(self.total, 1),
                rate,
                eta,
            )


def _score_pending(
    pending: Sequence[str],
    dataset: Dataset,
    candidates: Mapping[str, Mapping[str, float]],
    target: Target,
    model: str,
    log: ScoreLog,
    fusion: Fusion | None,
) -> Iterator[tuple[str, QueryScores]]:
    """Score `pending` queries `target.concurrency` at a time, each logged before it is yielded."""
    with ThreadPoolExecutor(max_workers=target.concurrency) as pool:
        queue = iter(pending)
        running: dict[Future[QueryScores], str] = {}
        try:
            while True:
                while len(running) < target.concurrency and (query := next(queue, None)) is not None:
                    job = pool.submit(_score_query, target, model, dataset, query, candidates[query], fusion)
                    running[job] = query
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for job in finished:
                    query = running.pop(job)
                    answer = job.result()
                    log.append(query, answer)
                    yield query, answer
        except BaseException:
            # Keep whatever finished alongside the failure: nothing scored is lost.
            for job, query in running.items():
                if job.cancel():
                    continue
                try:
                    log.append(query, job.result())
                except Exception:
                    logger.warning("query %r failed while the run was stopping", query)
            raise


def rerank_run(
    dataset: Dataset,
    candidates: Mapping[str, Mapping[str, float]],
    target: Target,
    model: str,
    log: ScoreLog,
    *,
    fusion: Fusion | None = None,
    progress: bool = True,
) -> RerankOutcome:
    """Return the reranked run (and the fused run, with `fusion`) of every evaluated query,
    scoring only what the log does not hold yet."""
    done = log.load(candidates, fusion)
    pending = [q for q in dataset.query_ids if q not in done and candidates.get(q)]
    resumed = len(done)
    if resumed:
        logger.info("resuming: %d queries already scored, %d to go", resumed, len(pending))
    meter = Progress(resumed + len(pending), resumed, enabled=progress)
    for query, answer in _score_pending(pending, dataset, candidates, target, model, log, fusion):
        done[query] = answer
        meter.advance()
    run: Run = {q: dict(done[q].scores) if q in done else {} for q in dataset.query_ids}
    fused_run: Run | None = None
    if fusion is not None:
        fused_run = {q: dict(done[q].fused or {}) if q in done else {} for q in dataset.query_ids}
    return RerankOutcome(
        run=run,
        prompt_tokens=sum(answer.prompt_tokens for answer in done.values()),
        scored_now=len(pending),
        documents_scored_now=sum(len(candidates[q]) for q in pending),
        resumed=resumed,
        fused_run=fused_run,
    )
