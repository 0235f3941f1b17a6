"""The Prometheus endpoint: names, types, labels and histogram buckets, served over real HTTP."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from easel.config import parse_config
from easel.metrics import CONTENT_TYPE, METRICS, Histogram, Metrics, MetricsServer, render_metrics


@dataclass
class StubBackend:
    up: bool
    current: Any = None
    swaps: int = 0


class StubStore:
    def __init__(self, counts: dict[str, int] | None = None, *, broken: bool = False) -> None:
        self.counts = counts or {}
        self.broken = broken

    async def count_by_state(self) -> dict[str, int]:
        if self.broken:
            raise RuntimeError("database is locked")
        return dict(self.counts)


@dataclass
class StubQueue:
    backends: dict[str, StubBackend]
    store: StubStore
    queued: list[object] = field(default_factory=list)
    running: list[object] = field(default_factory=list)
    generated_count: int = 0

    def queued_jobs(self) -> list[object]:
        return list(self.queued)

    def running_jobs(self) -> list[object]:
        return list(self.running)


def stub_queue() -> StubQueue:
    return StubQueue(
        backends={
            "gpu-a": StubBackend(up=True, current=object(), swaps=3),
            'odd"name': StubBackend(up=False),
        },
        store=StubStore({"queued": 2, "running": 1, "delivered": 40, "failed": 1}),
        queued=[object(), object()],
        running=[object()],
        generated_count=41,
    )


def parse(text: str) -> dict[str, float]:
    """Sample lines -> {'name{labels}': value}; checks every line is a comment or a sample."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            assert line.startswith(("# HELP ", "# TYPE ")) or not line
            continue
        key, _, value = line.rpartition(" ")
        samples[key] = float(value)
    return samples


@pytest.fixture
async def server() -> AsyncIterator[tuple[MetricsServer, Metrics]]:
    metrics = Metrics()
    srv = MetricsServer(stub_queue(), "127.0.0.1", 0, metrics=metrics)
    await srv.start()
    try:
        yield srv, metrics
    finally:
        await srv.stop()


def test_histogram_buckets() -> None:
    h = Histogram("h_seconds", "help", [1, 5, 10])
    for v in (0.5, 1.0, 3, 7, 100, -1, math.nan):  # negative and NaN are ignored
        h.observe(v)
    assert h.buckets() == [(1.0, 2), (5.0, 3), (10.0, 4), (math.inf, 5)]
    assert h.count == 5 and h.sum == pytest.approx(111.5)
    text = "\n".join(h.render())
    assert "# TYPE h_seconds histogram" in text
    assert 'h_seconds_bucket{le="1"} 2' in text
    assert 'h_seconds_bucket{le="+Inf"} 5' in text
    assert "h_seconds_count 5" in text


async def test_scrape(server: tuple[MetricsServer, Metrics]) -> None:
    srv, metrics = server
    metrics.observe_generation(4.2)
    metrics.observe_generation(45.0)
    metrics.observe_delivery(0.3)
    assert srv.port != 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.get(srv.url) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == CONTENT_TYPE
            text = await resp.text()
        async with session.get(srv.url.replace("/metrics", "/other")) as resp:
            assert resp.status == 404
    assert text.endswith("\n")
    for name, kind in [
        ("easel_queue_depth", "gauge"),
        ("easel_jobs_running", "gauge"),
        ("easel_jobs_total", "gauge"),
        ("easel_generation_seconds", "histogram"),
        ("easel_delivery_seconds", "histogram"),
        ("easel_backend_up", "gauge"),
        ("easel_backend_swaps_total", "counter"),
    ]:
        assert f"# TYPE {name} {kind}\n" in text
        assert f"# HELP {name} " in text
    s = parse(text)
    assert s["easel_queue_depth"] == 2
    assert s["easel_jobs_running"] == 1
    assert s['easel_jobs_total{state="delivered"}'] == 40
    assert s['easel_jobs_total{state="cancelled"}'] == 0  # every state is present, zero or not
    assert s['easel_backend_up{backend="gpu-a"}'] == 1
    assert s['easel_backend_up{backend="odd\\"name"}'] == 0  # label values are escaped
    assert s['easel_backend_busy{backend="gpu-a"}'] == 1
    assert s['easel_backend_swaps_total{backend="gpu-a"}'] == 3
    assert s["easel_images_generated_total"] == 41
    assert s['easel_generation_seconds_bucket{le="2.5"}'] == 0
    assert s['easel_generation_seconds_bucket{le="5"}'] == 1
    assert s['easel_generation_seconds_bucket{le="60"}'] == 2
    assert s['easel_generation_seconds_bucket{le="+Inf"}'] == 2
    assert s["easel_generation_seconds_count"] == 2
    assert s["easel_generation_seconds_sum"] == pytest.approx(49.2)
    assert s['easel_delivery_seconds_bucket{le="0.5"}'] == 1
    assert s["easel_delivery_seconds_count"] == 1


async def test_broken_store_still_scrapes() -> None:
    q = stub_queue()
    q.store = StubStore(broken=True)
    text = await render_metrics(q, Metrics())
    assert "easel_jobs_total" not in text
    assert "easel_queue_depth 2" in text


async def test_from_config_and_stop_frees_port() -> None:
    cfg = parse_config({"backends": [{"url": "http://127.0.0.1:7860"}], "metrics": {"enabled": True, "port": 9}}, {})
    srv = MetricsServer.from_config(stub_queue(), cfg.metrics)
    assert (srv.host, srv.port) == ("127.0.0.1", 9)
    # start on a free port, stop, then start again on the very same port
    srv = MetricsServer(stub_queue(), "127.0.0.1", 0, metrics=Metrics())
    await srv.start()
    port = srv.port
    await srv.stop()
    again = MetricsServer(stub_queue(), "127.0.0.1", port, metrics=Metrics())
    async with asyncio.timeout(10):
        await again.start()
    await again.stop()


def test_module_registry() -> None:
    before = METRICS.generation.count
    METRICS.observe_generation(1.0)
    assert METRICS.generation.count == before + 1


async def test_backend_label_never_shows_url_credentials() -> None:
    queue = stub_queue()
    queue.backends = {
        "alice:s3cret-Pw@gpu-box:7860": StubBackend(up=True),
        "http://bob:hunter22@10.0.0.2": StubBackend(up=False),
    }
    text = await render_metrics(queue, Metrics())
    assert "s3cret-Pw" not in text and "hunter22" not in text
    samples = parse(text)
    assert samples['easel_backend_up{backend="gpu-box:7860"}'] == 1
    assert samples['easel_backend_up{backend="http://10.0.0.2"}'] == 0
