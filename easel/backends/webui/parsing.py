"""Reading the webui's answers: base64 images, numbers, error bodies (A1111, Forge and SD.Next shapes) and the
txt2img / img2img result. Pure functions: no I/O (the client runs the big ones in a worker thread)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from easel.backends.base import GenerationResult
from easel.backends.errors import (
    WebuiAuthError,
    WebuiError,
    WebuiNotFound,
    WebuiRequestError,
    WebuiServerError,
)
from easel.infotext import png_parameters

_ERROR_TEXT_LIMIT = 500


def _b64decode(data: str) -> bytes:
    """Decode a base64 image as the webui sends it (tolerates a ``data:...;base64,`` prefix)."""
    if data.startswith("data:"):
        _, _, data = data.partition(",")
    return base64.b64decode(data)


def image_kind(data: bytes) -> str | None:
    """ "png", "jpeg" or "webp" from the file signature; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _decode_image(data: str, what: str) -> bytes:
    """A base64 image from the webui; ValueError when it does not decode or is not a PNG/JPEG/WebP."""
    try:
        raw = _b64decode(data)
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"{what} is not valid base64") from exc
    if image_kind(raw) is None:
        raise ValueError(f"{what} is not a PNG, JPEG or WebP image (starts with {raw[:8]!r})")
    return raw


def _preview(value: Any) -> bytes | None:
    """A live preview (base64 or data: URI) decoded, or None when absent, undecodable or not an image."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return _decode_image(value, "preview")
    except ValueError:
        return None


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _as_float(value: Any, default: float = 0.0) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _as_int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def _loc_text(loc: Any) -> str:
    if not isinstance(loc, list | tuple):
        return str(loc)
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header") and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)


def error_message(body: bytes, *, status: int | None = None, reason: str | None = None) -> tuple[str, str | None]:
    """Turn an error body into a readable message. Returns ``(message, raw_detail)``; ``raw_detail`` is the
    ``detail`` string when the body had one (used to recognise FastAPI's plain ``"Not Found"``).

    Shapes understood (A1111, Forge, SD.Next):
    - FastAPI validation: ``{"detail": [{"loc": [...], "msg": ..., "type": ...}, ...]}`` (pydantic 1 and 2)
    - FastAPI plain: ``{"detail": "Not Found"}`` (also Forge's deliberate errors)
    - webui: ``{"error", "detail", "body", "errors"}``; Forge uses ``message`` for ``errors``, SD.Next
      adds ``code``
    - AI Horde style: ``{"message": ..., "rc": ...}``
    """
    text = body.decode("utf-8", errors="replace").strip()
    parsed = False
    data: Any = None
    if text:
        try:
            data = json.loads(text)
            parsed = True
        except ValueError:
            pass
    if isinstance(data, dict):
        detail = data.get("detail")
        if isinstance(detail, list):
            items = []
            for item in detail:
                if isinstance(item, dict):
                    loc = _loc_text(item.get("loc", []))
                    msg = str(item.get("msg", "invalid"))
                    items.append(f"{loc}: {msg}" if loc else msg)
                else:
                    items.append(str(item))
            return ("; ".join(items) or "validation error")[:_ERROR_TEXT_LIMIT], None
        detail_text = detail if isinstance(detail, str) else ""
        extra = ""
        for key in ("errors", "message"):
            value = data.get(key)
            if isinstance(value, str) and value:
                extra = value
                break
        error_class = data.get("error") if isinstance(data.get("error"), str) else ""
        if detail_text:
            msg = detail_text
        elif extra:
            msg = f"{error_class}: {extra}" if error_class and error_class != "HTTPException" else extra
        elif error_class:
            msg = error_class
        else:
            msg = ""
        if msg:
            return msg[:_ERROR_TEXT_LIMIT], detail_text or None
    elif isinstance(data, str) and data:
        return data[:_ERROR_TEXT_LIMIT], None
    if text and not parsed and not text.startswith("<"):
        return text[:_ERROR_TEXT_LIMIT], None
    return (reason or (f"HTTP {status}" if status is not None else "unknown error")), None


def _exception_for_status(status: int) -> type[WebuiError]:
    if status in (401, 403):
        return WebuiAuthError
    if status == 404:
        return WebuiNotFound
    if status >= 500:
        return WebuiServerError
    return WebuiRequestError


def _drop_nulls(payload: Mapping[str, Any]) -> dict[str, Any]:
    """webui answers 422 for null on some fields (sampler_index, script_args, send_images, save_images,
    alwayson_scripts, ...), so keys with a None value are left out instead."""
    return {k: v for k, v in payload.items() if v is not None}


def _encode_images(payload: dict[str, Any]) -> dict[str, Any]:
    """Convenience: accept raw bytes for the image fields of img2img and send them as base64."""
    out = dict(payload)
    images = out.get("init_images")
    if isinstance(images, list | tuple):
        out["init_images"] = [_b64encode(i) if isinstance(i, bytes | bytearray) else i for i in images]
    for key in ("mask", "latent_mask", "firstpass_image"):
        if isinstance(out.get(key), bytes | bytearray):
            out[key] = _b64encode(out[key])
    return out


def _int_list(info: Mapping[str, Any], key: str) -> list[int]:
    value = info.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"info.{key} is not a list of integers")
    return value


def _parse_info(raw_info: Any) -> dict[str, Any]:
    """``info`` is a JSON string holding an object (webui's ``js()``); a dict is accepted too. Missing or empty:
    {}. Anything else is a broken answer (ValueError)."""
    if raw_info is None or raw_info == "":
        return {}
    if isinstance(raw_info, str):
        try:
            decoded = json.loads(raw_info)
        except ValueError as exc:
            raise ValueError("info is not valid JSON") from exc
    else:
        decoded = raw_info
    if not isinstance(decoded, dict):
        raise ValueError(f"info is not a JSON object ({type(decoded).__name__})")
    return decoded


def _parse_generation(body: bytes, elapsed: float) -> GenerationResult:
    """Raises ValueError (with a readable reason) for anything that is not a well-formed generation answer."""
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("response is not a JSON object")
    info = _parse_info(data.get("info"))
    parameters = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
    raw_images = data.get("images") or []
    if not isinstance(raw_images, list):
        raise ValueError("'images' is not a list")

    first = _as_int(info.get("index_of_first_image"), 0)
    first = max(0, min(first, len(raw_images)))
    all_seeds = _int_list(info, "all_seeds")
    all_subseeds = _int_list(info, "all_subseeds")
    all_infotexts = info.get("infotexts")
    if all_infotexts is None:
        all_infotexts = []
    if not isinstance(all_infotexts, list) or not all(isinstance(t, str | None) for t in all_infotexts):
        raise ValueError("info.infotexts is not a list of strings")
    # Images beyond the job's own (Forge's preprocessor outputs, inpainting masks) have no seed: drop them.
    last = first + len(all_seeds) if all_seeds else len(raw_images)
    wanted = raw_images[first:last]

    images: list[bytes] = []
    infotexts: list[str] = []
    for k, b64 in enumerate(wanted):
        if not isinstance(b64, str):
            raise ValueError("image entry is not a string")
        idx = first + k
        img = _decode_image(b64, f"images[{idx}]")
        images.append(img)
        text = all_infotexts[idx] if idx < len(all_infotexts) else None
        infotexts.append(text if text is not None else (png_parameters(img) or ""))

    n = len(images)
    base_seed = _as_int(info.get("seed"), -1)
    base_subseed = _as_int(info.get("subseed"), -1)
    seeds = all_seeds[:n] if len(all_seeds) >= n else [base_seed + k for k in range(n)]
    subseeds = all_subseeds[:n] if len(all_subseeds) >= n else [base_subseed + k for k in range(n)]
    return GenerationResult(
        images=tuple(images),
        infotexts=tuple(infotexts),
        seeds=tuple(seeds),
        subseeds=tuple(subseeds),
        info=info,
        parameters=parameters,
        elapsed=elapsed,
    )
