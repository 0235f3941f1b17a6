"""Helpers shared by every test layer: one way to build a ``Config``.

``make_config`` takes the backends (a count, URLs or whole backend tables), the database path and per-section
overrides; a preset (``QUEUE`` here, ``E2E`` in tests/cogs/harness.py) supplies the sections a layer always wants,
and the keyword sections are merged over it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from easel.config import Config, parse_config

LOCAL_URL = "http://127.0.0.1:7860"
"""The webui URL a test that never talks to a backend puts in its config."""

QUEUE: Mapping[str, Any] = {
    "webui": {"read_timeout": 2.0, "connect_timeout": 1.0, "max_attempts": 3, "probe_max_interval": 0.2},
    "queue": {"status_interval": 0},
    "limits": {"max_queued_per_user": 20},
}
"""The queue against the webui fake: short timeouts, no status edits, room for many jobs per user."""


def backend_tables(backends: int | Sequence[str | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``[backends]`` tables: a count gives gpu0..gpuN-1 on distinct loopback ports; a URL is named gpu<i>; a table
    is used as given (without a name, the config names it after its host:port)."""
    if isinstance(backends, int):
        return [{"name": f"gpu{i}", "url": f"http://127.0.0.1:{7860 + i}"} for i in range(backends)]
    tables: list[dict[str, Any]] = []
    for i, item in enumerate(backends):
        tables.append({"name": f"gpu{i}", "url": item} if isinstance(item, str) else dict(item))
    return tables


def make_config(
    backends: int | Sequence[str | Mapping[str, Any]] = (LOCAL_URL,),
    db: Path | str | None = None,
    *,
    preset: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    **sections: Any,
) -> Config:
    """A parsed ``Config`` for a test.

    ``db`` sets ``[storage] path`` (None keeps the default). ``preset`` (``QUEUE``, ``E2E`` or any mapping) gives the
    starting sections; each keyword section is merged over it: a table updates the section key by key, anything else
    (a list such as ``role_limits``) replaces it. ``env`` is the environment the config reads (empty by default, so
    the developer's own ``DISCORD_TOKEN`` never leaks in).
    """
    raw: dict[str, Any] = {
        key: dict(value) if isinstance(value, Mapping) else value for key, value in (preset or {}).items()
    }
    raw["backends"] = backend_tables(backends)
    if db is not None:
        raw["storage"] = {"path": str(db)}
    for key, value in sections.items():
        if isinstance(value, Mapping):
            raw.setdefault(key, {}).update(value)
        else:
            raw[key] = value
    return parse_config(raw, env=dict(env or {}))
