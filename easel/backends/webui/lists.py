"""The webui's optional lists for the catalog (``BackendClient.extras``): LoRAs with their metadata, embeddings,
ADetailer and its models (``/sdapi/v1/scripts``, ``/adetailer/v1/ad_model``), face restorers. Each is optional:
a webui without an extension, or a flavour without a route, still draws."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from easel.backends.base import CatalogExtras
from easel.backends.errors import WebuiError
from easel.loras import lora_info_from_api

log = logging.getLogger(__name__)


class JsonSource(Protocol):
    """What the lists are read through (``WebuiClient.get_json``)."""

    async def get_json(self, route: str) -> Any: ...


async def _optional(client: JsonSource, route: str) -> Any:
    """A list a webui may not have (an extension's, or a route another flavour lacks): None when it can't answer."""
    try:
        return await client.get_json(route)
    except WebuiError as exc:
        log.debug("catalog: %s unavailable: %s", route, exc)
        return None


def _embedding_names(data: Any) -> tuple[str, ...]:
    """``{loaded: {name: item}, skipped: ...}`` (A1111, Forge) or ``{loaded: [names]}`` (SD.Next): the loaded ones."""
    loaded = data.get("loaded") if isinstance(data, Mapping) else None
    names = loaded.keys() if isinstance(loaded, Mapping) else loaded if isinstance(loaded, list) else ()
    return tuple(sorted({n for n in names if isinstance(n, str) and n.strip()}, key=str.lower))


def _restorer_names(data: Any) -> tuple[str, ...]:
    items = data if isinstance(data, list) else ()
    return tuple(str(i["name"]) for i in items if isinstance(i, Mapping) and isinstance(i.get("name"), str))


async def read_extras(client: JsonSource) -> CatalogExtras:
    """LoRAs, embeddings, ADetailer and face restorers: each optional (a webui without one still draws)."""
    loras = await _optional(client, "/sdapi/v1/loras")
    infos = tuple(i for i in (lora_info_from_api(x) for x in (loras if isinstance(loras, list) else ())) if i)
    scripts = await _optional(client, "/sdapi/v1/scripts")
    txt2img = scripts.get("txt2img") if isinstance(scripts, Mapping) else None
    adetailer = isinstance(txt2img, list) and any(str(s).casefold() == "adetailer" for s in txt2img)
    ad_models: tuple[str, ...] = ()
    if adetailer:
        data = await _optional(client, "/adetailer/v1/ad_model")
        models = data.get("ad_model") if isinstance(data, Mapping) else None
        ad_models = tuple(m for m in models if isinstance(m, str)) if isinstance(models, list) else ()
    return CatalogExtras(
        loras=infos,
        embeddings=_embedding_names(await _optional(client, "/sdapi/v1/embeddings")),
        adetailer=adetailer,
        ad_models=ad_models,
        face_restorers=_restorer_names(await _optional(client, "/sdapi/v1/face-restorers")),
    )
