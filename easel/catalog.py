"""What the backends can draw with: models, samplers, schedulers, styles, upscalers.

Fetched from each webui and refreshed in the background; autocomplete and validation read this cache
and never call a webui while a user waits.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import PurePath

from easel.backends.base import CatalogSource, ModelInfo
from easel.backends.credentials import scrub_credentials
from easel.backends.errors import WebuiError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackendCatalog:
    models: tuple[ModelInfo, ...] = ()
    samplers: tuple[str, ...] = ()
    schedulers: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    upscalers: tuple[str, ...] = ()
    loaded_model: str | None = None  # model_name of the checkpoint the webui has loaded
    fetched_at: float = field(default_factory=time.time)


def _model_keys(m: ModelInfo) -> set[str]:
    keys = {m.model_name.lower(), m.title.lower()}
    if m.filename:
        stem = PurePath(m.filename.replace("\\", "/")).stem
        keys.add(stem.lower())
    title = m.title.split(" [")[0]
    keys.add(title.lower())
    keys.add(PurePath(title.replace("\\", "/")).stem.lower())
    return keys


def _match(items: tuple[str, ...], name: str) -> str | None:
    low = name.lower()
    return next((i for i in items if i.lower() == low), None)


class Catalog:
    def __init__(self) -> None:
        self._by_backend: dict[str, BackendCatalog] = {}

    @property
    def known(self) -> bool:
        return bool(self._by_backend)

    def get(self, backend: str) -> BackendCatalog | None:
        return self._by_backend.get(backend)

    def set(self, backend: str, cat: BackendCatalog) -> None:
        self._by_backend[backend] = cat

    async def refresh(self, backend: str, client: CatalogSource) -> BackendCatalog:
        """Fetch every list from one backend (``CatalogSource``, part of the backend protocol). Raises the client's
        error (``easel.backends.errors``) when it can't."""
        models = tuple(await client.sd_models())
        samplers = tuple(await client.samplers())
        try:
            schedulers = tuple(await client.schedulers())
        except WebuiError:  # webui < 1.9 has no /schedulers (and an odd answer is no reason to lose the rest)
            schedulers = ()
        styles = tuple(s.name for s in await client.prompt_styles())
        upscalers = tuple(await client.upscalers())
        loaded_title = await client.loaded_model()
        loaded = None
        if loaded_title:
            loaded = next((m.model_name for m in models if loaded_title.lower() in _model_keys(m)), None)
        cat = BackendCatalog(models, samplers, schedulers, styles, upscalers, loaded)
        self._by_backend[backend] = cat
        log.info(
            "catalog: %s has %d models, %d samplers, %d styles (loaded: %s)",
            scrub_credentials(backend),
            len(models),
            len(samplers),
            len(styles),
            loaded,
        )
        return cat

    # ---- queries (all answered from memory) -------------------------------------------------

    def _all(self, attr: str) -> list[str]:
        seen: dict[str, None] = {}
        for cat in self._by_backend.values():
            for item in getattr(cat, attr):
                seen.setdefault(item, None)
        return list(seen)

    def model_names(self) -> list[str]:
        seen: dict[str, None] = {}
        for cat in self._by_backend.values():
            for m in cat.models:
                seen.setdefault(m.model_name, None)
        return sorted(seen, key=str.lower)

    def samplers(self) -> list[str]:
        return self._all("samplers")

    def schedulers(self) -> list[str]:
        return self._all("schedulers")

    def styles(self) -> list[str]:
        return self._all("styles")

    def upscalers(self) -> list[str]:
        return self._all("upscalers")

    def resolve_model(self, name: str) -> str | None:
        """Canonical model_name for a name, title, file name or stem; None if no backend has it."""
        low = name.strip().lower()
        for cat in self._by_backend.values():
            for m in cat.models:
                if low in _model_keys(m):
                    return m.model_name
        return None

    def model_title(self, backend: str, model_name: str) -> str | None:
        cat = self._by_backend.get(backend)
        if cat is None:
            return None
        return next((m.title for m in cat.models if m.model_name == model_name), None)

    def backend_has_model(self, backend: str, model_name: str) -> bool:
        return self.model_title(backend, model_name) is not None

    def backends_with_model(self, model_name: str) -> list[str]:
        return [b for b in self._by_backend if self.backend_has_model(b, model_name)]

    def has_sampler(self, name: str) -> bool:
        samplers = tuple(self.samplers())
        return not samplers or _match(samplers, name) is not None

    def has_scheduler(self, name: str) -> bool:
        schedulers = tuple(self.schedulers())
        return not schedulers or _match(schedulers, name) is not None

    def has_style(self, name: str) -> bool:
        return _match(tuple(self.styles()), name) is not None

    def search(self, kind: str, text: str, limit: int = 25) -> list[str]:
        """Autocomplete: names of ``kind`` containing ``text`` (prefix matches first), at most ``limit``."""
        items = {
            "model": self.model_names,
            "sampler": self.samplers,
            "scheduler": self.schedulers,
            "style": self.styles,
            "upscaler": self.upscalers,
        }[kind]()
        low = text.strip().lower()
        hits = [i for i in items if low in i.lower()]
        hits.sort(key=lambda i: (not i.lower().startswith(low), i.lower()))
        return [h[:100] for h in hits[:limit]]
