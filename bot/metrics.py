"""Prometheus metrics, on a registry of their own so tests can build many apps in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.updates = Counter(
            "troly_updates_total", "Inbound updates by channel and outcome", ["channel", "outcome"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "troly_match_decisions_total", "Matcher decisions on residents' questions", ["decision"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "troly_deliveries_total", "Outgoing messages by channel and result", ["channel", "result"],
            registry=self.registry,
        )
        self.http_requests = Counter(
            "troly_http_requests_total", "HTTP requests by route and status", ["route", "status"],
            registry=self.registry,
        )
        self.handle_seconds = Histogram(
            "troly_handle_seconds", "Time to handle one inbound message", ["channel"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.up = Gauge("troly_up", "1 while the server runs", registry=self.registry)
        self.scheduler_leader = Gauge(
            "troly_scheduler_leader", "1 while this process is the campaign scheduler's leader (runs the jobs)",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
