"""One client per ``[[backends]]`` entry, of the entry's ``kind``."""

from __future__ import annotations

import aiohttp

from easel.backends.base import BackendClient
from easel.backends.horde.client import from_config as horde_client
from easel.backends.webui import WebuiClient
from easel.config import BackendConfig, BackendKind, Config


def make_client(backend: BackendConfig, cfg: Config, session: aiohttp.ClientSession) -> BackendClient:
    """The client for ``backend`` (it borrows ``session``; closing it is the caller's)."""
    if backend.kind is BackendKind.WEBUI:
        return WebuiClient(
            backend.url,
            session,
            name=backend.name,
            username=backend.username,
            password=backend.password,
            connect_timeout=cfg.webui.connect_timeout,
            read_timeout=cfg.webui.read_timeout,
            total_timeout=cfg.webui.total_timeout or None,
            exclusive=backend.exclusive,
        )
    if backend.kind is BackendKind.HORDE:
        return horde_client(backend, session, read_timeout=cfg.webui.read_timeout)
    raise ValueError(f"backend {backend.name!r}: kind {str(backend.kind)!r} has no client in this version")
