"""The body of GET /metrics (the route is in api/metering.py): the recorder's totals, the scoring
queue and model load times, as Prometheus text.

prometheus_client is imported at the first scrape, not at start (its import costs ~0.13 s, which
a Lambda cold start should not pay for a route nobody scrapes there).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reranker.coldstart import import_seconds
from reranker.metrics.recorder import MetricsRecorder


class ServiceCollector:
    """Turns the app's state into Prometheus metric families at each scrape."""

    def __init__(self, recorder: MetricsRecorder, state: Any) -> None:
        self.recorder = recorder
        self.state = state

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        snapshot = self.recorder.snapshot()
        requests = CounterMetricFamily(
            "reranker_requests",
            "HTTP requests answered, by route template and status.",
            labels=["method", "route", "status"],
        )
        for labels, count in sorted(snapshot.requests.items()):
            requests.add_metric(list(labels), count)
        yield requests
        latency = HistogramMetricFamily(
            "reranker_request_duration_seconds",
            "Time from request to the end of the response.",
            labels=["method", "route"],
        )
        for route_labels, histogram in sorted(snapshot.latency.items()):
            latency.add_metric(list(route_labels), histogram.cumulative(), histogram.total)
        yield latency
        for name, values, text in (
            ("reranker_pairs_scored", snapshot.pairs, "Query-document pairs scored, by requested model."),
            ("reranker_tokens_scored", snapshot.tokens, "Tokens fed to the model (usage.prompt_tokens)."),
        ):
            family = CounterMetricFamily(name, text, labels=["model"])
            for model, count in sorted(values.items()):
                family.add_metric([model], count)
            yield family
        limiter = self.state.limiter
        yield GaugeMetricFamily(
            "reranker_scoring_in_flight", "Scoring jobs running or waiting.", value=limiter.admitted
        )
        yield GaugeMetricFamily(
            "reranker_scoring_queue_depth", "Scoring jobs waiting for a worker.", value=limiter.queue_depth
        )
        yield from self._models()

    def _models(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        loaded = GaugeMetricFamily("reranker_model_loaded", "1 once the model is loaded.", labels=["model"])
        load = GaugeMetricFamily(
            "reranker_model_load_seconds", "The model's first load, by phase.", labels=["model", "phase"]
        )
        for served in self.state.service.registry.served():
            loaded.add_metric([served.name], 1 if served.scorer is not None else 0)
            cold = served.cold_start
            if cold is None:
                continue
            for phase in ("fetch", "session", "warm"):
                seconds = getattr(cold, f"{phase}_seconds")
                if seconds is not None:
                    load.add_metric([served.name, phase], seconds)
        yield loaded
        yield load
        imported = import_seconds()
        if imported is not None:
            yield GaugeMetricFamily(
                "reranker_cold_start_import_seconds", "The Lambda handler's imports.", value=imported
            )


def render(recorder: MetricsRecorder, state: Any) -> tuple[bytes, str]:
    """Return (body, content type) of a scrape: the service's families and the process's own."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(recorder, state))
    ProcessCollector(registry=registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST
