"""What the backends can draw with: models, samplers, schedulers, styles, upscalers, LoRAs, embeddings, face fix.

Fetched from each webui and refreshed in the background; autocomplete and validation read this cache
and never call a webui while a user waits.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import PurePath
from typing import TYPE_CHECKING

from easel import faces
from easel.backends.base import CatalogSource, ModelInfo
from easel.backends.credentials import scrub_credentials
from easel.backends.errors import WebuiError
from easel.loras import LoraInfo

if TYPE_CHECKING:
    from easel.request import DrawRequest

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
    loras: tuple[LoraInfo, ...] = ()
    embeddings: tuple[str, ...] = ()  # textual inversions usable with the loaded model ("loaded" in the webui's list)
    adetailer: bool = False  # the ADetailer extension answers (its script is listed for txt2img)
    ad_models: tuple[str, ...] = ()  # ADetailer's detection models (face_yolov8n.pt ...)
    face_restorers: tuple[str, ...] = ()  # CodeFormer, GFPGAN (restore_faces)

    def has_lora(self, name: str) -> bool:
        return any(i.matches(name) for i in self.loras)

    def face_fixer(self, mode: str) -> faces.FaceFixer | None:
        return faces.pick(mode, adetailer=self.adetailer, ad_models=self.ad_models, restorers=self.face_restorers)


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
        extras = await client.extras()
        cat = replace(cat, **{f.name: getattr(extras, f.name) for f in fields(extras)})
        self._by_backend[backend] = cat
        log.info(
            "catalog: %s has %d models, %d samplers, %d styles, %d LoRAs, %d embeddings, face fix: %s (loaded: %s)",
            scrub_credentials(backend),
            len(models),
            len(samplers),
            len(styles),
            len(cat.loras),
            len(cat.embeddings),
            "ADetailer" if cat.adetailer else ", ".join(cat.face_restorers) or "none",
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

    def model_hash(self, model_name: str) -> str | None:
        """The short hash a backend lists for ``model_name`` (model profiles match by it), None if none does."""
        for cat in self._by_backend.values():
            for m in cat.models:
                if m.model_name == model_name and m.hash:
                    return m.hash
        return None

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

    # ---- LoRAs, embeddings, face fix --------------------------------------------------------

    def lora_infos(self) -> list[LoraInfo]:
        """Every backend's LoRAs, one per name (case-insensitively), sorted by name."""
        seen: dict[str, LoraInfo] = {}
        for cat in self._by_backend.values():
            for info in cat.loras:
                known = seen.get(info.name.casefold())
                if known is None or (not known.activation and info.activation):
                    seen[info.name.casefold()] = info
        return sorted(seen.values(), key=lambda i: i.name.casefold())

    def lora_trigger(self, name: str) -> str:
        """The activation text a backend lists for the LoRA ``name`` ("" = none)."""
        low = name.casefold()
        return next((i.activation for i in self.lora_infos() if i.name.casefold() == low), "")

    def backends_with_lora(self, name: str) -> list[str]:
        return [b for b, cat in self._by_backend.items() if cat.has_lora(name)]

    def embedding_names(self) -> list[str]:
        return sorted(set(self._all("embeddings")), key=str.lower)

    def backends_with_embedding(self, name: str) -> list[str]:
        return [b for b, cat in self._by_backend.items() if name in cat.embeddings]

    def face_fix_ok(self, mode: str) -> bool:
        """Some backend can fix faces this way (``on``, ``adetailer``, ``codeformer``, ``gfpgan``)."""
        return any(cat.face_fixer(mode) is not None for cat in self._by_backend.values())

    def supports(self, backend: str, request: DrawRequest) -> bool:
        """Whether ``backend`` has every LoRA of ``request`` and can fix faces the way it asks (the routing rule:
        the worker gives a job only to a backend for which this holds)."""
        if request.upscale or (not request.lora and not request.face_fix):
            return True
        cat = self._by_backend.get(backend)
        if cat is None:
            return False
        if any(not cat.has_lora(ref.name) for ref in request.loras):
            return False
        return not request.face_fix or cat.face_fixer(request.face_fix) is not None

    def fit(self, backend: str, request: DrawRequest) -> DrawRequest:
        """``request`` as ``backend`` runs it: the way it fixes faces chosen (ADetailer or restoration)."""
        if not request.face_fix:
            return request
        cat = self._by_backend.get(backend)
        fixer = cat.face_fixer(request.face_fix) if cat is not None else None
        return replace(request, face_fixer=fixer.encode() if fixer is not None else "")

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
