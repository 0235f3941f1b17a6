"""Optional Prometheus endpoint: ``GET /metrics`` in the text exposition format 0.0.4.

Off unless ``[metrics] enabled = true``. No client library: a few gauges are read from the queue at scrape time,
and two histograms (generation and delivery time) are fed by the queue through the module-level ``METRICS``.

Metrics:

- ``easel_queue_depth`` (gauge): jobs waiting in line
- ``easel_jobs_running`` (gauge): jobs a webui is drawing now
- ``easel_jobs_total{state}`` (gauge): jobs in the store by state (queued, running, generated, delivered, failed,
  cancelled); a gauge because old rows are purged
- ``easel_generation_seconds`` (histogram): webui time per finished job
- ``easel_delivery_seconds`` (histogram): time from "drawn" to "posted in Discord", retries included
- ``easel_backend_up{backend}`` (gauge): 1 when the webui answers
- ``easel_backend_busy{backend}`` (gauge): 1 while it draws one of Easel's jobs
- ``easel_backend_swaps_total{backend}`` (counter): checkpoint changes Easel caused
- ``easel_images_generated_total`` (counter): jobs generated since start
- ``easel_refusals_total{rule}`` (counter): asks refused and images held back by a safety rule since start
  (``minors_sexual``: see docs/safety.md); a rule shows up once it has counted
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from aiohttp import web

from easel.backends.webui import scrub_credentials
from easel.config import MetricsConfig

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Generation: a 1-step preview takes a second, a 4-image SDXL hires job minutes.
GENERATION_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# Delivery: an upload to Discord of up to 10 images.
DELIVERY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


class Histogram:
    """Cumulative-bucket histogram (Prometheus semantics: ``le`` upper bounds, ``+Inf`` implied)."""

    def __init__(self, name: str, help: str, buckets: Sequence[float]) -> None:
        bounds = sorted(float(b) for b in buckets if not math.isinf(b))
        if not bounds:
            raise ValueError("a histogram needs at least one finite bucket")
        self.name = name
        self.help = help
        self.bounds: tuple[float, ...] = tuple(bounds)
        self._counts = [0] * (len(self.bounds) + 1)  # per bucket, not cumulative; last is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        if math.isnan(value) or value < 0:
            return
        self._counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def buckets(self) -> list[tuple[float, int]]:
        """``(upper bound, cumulative count)`` pairs, ending with ``(inf, count)``."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*self.bounds, math.inf), self._counts, strict=True):
            running += n
            out.append((bound, running))
        return out

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {_escape_help(self.help)}", f"# TYPE {self.name} histogram"]
        for bound, cumulative in self.buckets():
            lines.append(f'{self.name}_bucket{{le="{_fmt(bound)}"}} {cumulative}')
        lines.append(f"{self.name}_sum {_fmt(self.sum)}")
        lines.append(f"{self.name}_count {self.count}")
        return lines


class Metrics:
    """What the queue reports as it works. Cheap: an observation is a few integer adds."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start empty (also used by tests)."""
        self.generation = Histogram(
            "easel_generation_seconds", "Seconds the webui took per finished job.", GENERATION_BUCKETS
        )
        self.delivery = Histogram(
            "easel_delivery_seconds", "Seconds from generated to posted in Discord, retries included.", DELIVERY_BUCKETS
        )
        self.refusals: dict[str, int] = {}

    def observe_generation(self, seconds: float) -> None:
        self.generation.observe(seconds)

    def observe_delivery(self, seconds: float) -> None:
        self.delivery.observe(seconds)

    def count_refusal(self, rule: str) -> None:
        """One ask refused (or image held back) by the safety rule ``rule``."""
        self.refusals[rule] = self.refusals.get(rule, 0) + 1


METRICS = Metrics()


# --------------------------------------------------------------------------------------------------
# What the server reads from the queue (duck-typed: easel.queue.JobQueue fits)


class QueueLike(Protocol):
    """``backends``: name -> object with ``up``, ``current`` and ``swaps``; ``store.count_by_state()``."""

    backends: Mapping[str, Any]
    store: Any
    generated_count: int

    def queued_jobs(self) -> list[Any]: ...
    def running_jobs(self) -> list[Any]: ...


JOB_STATES = ("queued", "running", "generated", "delivered", "failed", "cancelled")


def _metric(name: str, kind: str, help: str, samples: Iterable[tuple[Mapping[str, str], float]]) -> list[str]:
    lines = [f"# HELP {name} {_escape_help(help)}", f"# TYPE {name} {kind}"]
    lines.extend(f"{name}{_labels(labels)} {_fmt(value)}" for labels, value in samples)
    return lines


async def render_metrics(queue: QueueLike, metrics: Metrics = METRICS) -> str:
    """The whole exposition text (ends with a newline)."""
    lines: list[str] = []
    lines += _metric("easel_queue_depth", "gauge", "Jobs waiting in line.", [({}, len(queue.queued_jobs()))])
    lines += _metric("easel_jobs_running", "gauge", "Jobs being drawn now.", [({}, len(queue.running_jobs()))])
    try:
        by_state = await queue.store.count_by_state()
    except Exception:  # a broken store must not break the scrape of everything else
        log.exception("metrics: count_by_state failed")
        by_state = None
    if by_state is not None:
        states = [*JOB_STATES, *sorted(s for s in by_state if s not in JOB_STATES)]
        lines += _metric(
            "easel_jobs_total",
            "gauge",
            "Jobs in the store by state (old finished jobs are purged).",
            [({"state": s}, by_state.get(s, 0)) for s in states],
        )
    lines += _metric(
        "easel_images_generated_total",
        "counter",
        "Jobs generated since Easel started.",
        [({}, getattr(queue, "generated_count", 0))],
    )
    # A backend name is a label; one that is (or holds) a URL with user:pass@ never shows that part.
    backends = sorted(((scrub_credentials(name), b) for name, b in queue.backends.items()), key=lambda nb: nb[0])
    lines += _metric(
        "easel_backend_up",
        "gauge",
        "1 when the webui backend answers, else 0.",
        [({"backend": name}, 1 if b.up else 0) for name, b in backends],
    )
    lines += _metric(
        "easel_backend_busy",
        "gauge",
        "1 while the backend draws one of Easel's jobs.",
        [({"backend": name}, 1 if b.current is not None else 0) for name, b in backends],
    )
    lines += _metric(
        "easel_backend_swaps_total",
        "counter",
        "Checkpoint changes Easel caused on the backend.",
        [({"backend": name}, b.swaps) for name, b in backends],
    )
    lines += _metric(
        "easel_refusals_total",
        "counter",
        "Asks refused and images held back by a safety rule since Easel started, by rule.",
        [({"rule": rule}, n) for rule, n in sorted(metrics.refusals.items())],
    )
    lines += metrics.generation.render()
    lines += metrics.delivery.render()
    return "\n".join(lines) + "\n"


class MetricsServer:
    """``GET /metrics`` on ``host:port`` (port 0: any free port; ``port`` tells which after ``start``)."""

    def __init__(
        self, queue: QueueLike, host: str = "127.0.0.1", port: int = 9108, *, metrics: Metrics = METRICS
    ) -> None:
        self.queue = queue
        self.host = host
        self.port = port
        self.metrics = metrics
        self._runner: web.AppRunner | None = None

    @classmethod
    def from_config(cls, queue: QueueLike, cfg: MetricsConfig) -> MetricsServer:
        return cls(queue, cfg.host, cfg.port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    async def _handle(self, request: web.Request) -> web.Response:
        text = await render_metrics(self.queue, self.metrics)
        return web.Response(body=text.encode("utf-8"), headers={"Content-Type": CONTENT_TYPE})

    async def start(self) -> None:
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_get("/metrics", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        addresses = runner.addresses
        if addresses:
            self.port = int(addresses[0][1])
        log.info("metrics: serving %s", self.url)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
