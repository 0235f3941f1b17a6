"""Face fix (``/draw face_fix:``): which way a backend fixes faces, and what that puts in the webui payload.

Two ways, picked per backend from what it lists:

- ADetailer (an extension: ``adetailer`` in ``GET /sdapi/v1/scripts``): detects faces and redraws them, sent through
  ``alwayson_scripts``. A1111 reads the args as ADetailer documents them, ``[{"ad_model": ...}]`` (the enable flag
  is implied); Forge passes script args by position, so it gets the flags written out:
  ``[true, false, {"ad_model": ...}]`` (enable, skip img2img, the unit).
- The webui's own face restoration (``restore_faces``, with a restorer of ``GET /sdapi/v1/face-restorers``:
  CodeFormer or GFPGAN, chosen with ``override_settings.face_restoration_model``).

``face_fix`` values: ``on`` (ADetailer where the backend has it, else restoration), ``adetailer`` (only ADetailer),
``codeformer``/``gfpgan`` (restoration with that restorer). What was done is written in the result's infotext
(``ADetailer model: face_yolov8n.pt`` or ``Face restoration: CodeFormer``), which Draw this again reads back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from easel.options import Flavor

__all__ = ["ADETAILER", "DEFAULT_AD_MODEL", "FaceFixer", "apply_face_fix", "face_fix_from_infotext", "pick"]

ADETAILER = "ADetailer"  # the alwayson_scripts key (script titles match case-insensitively)
DEFAULT_AD_MODEL = "face_yolov8n.pt"
RESTORERS = {"codeformer": "CodeFormer", "gfpgan": "GFPGAN"}


@dataclass(frozen=True)
class FaceFixer:
    """How one backend fixes faces for one job: ``kind`` "adetailer" (``model``: the detector) or "restore"
    (``model``: the restorer's name, "" = the webui's setting)."""

    kind: str
    model: str = ""

    def encode(self) -> str:
        return f"{self.kind}:{self.model}"

    @classmethod
    def decode(cls, text: str) -> FaceFixer | None:
        kind, _, model = text.partition(":")
        return cls(kind, model) if kind in ("adetailer", "restore") else None


def _restorer(names: Sequence[str], wanted: str) -> str | None:
    low = wanted.casefold()
    return next((n for n in names if n.casefold() == low), None)


def pick(mode: str, *, adetailer: bool, ad_models: Sequence[str], restorers: Sequence[str]) -> FaceFixer | None:
    """The way a backend with these lists fixes faces for ``mode``; None: it can't."""
    if mode in ("on", "adetailer") and adetailer:
        model = DEFAULT_AD_MODEL if not ad_models or DEFAULT_AD_MODEL in ad_models else ad_models[0]
        return FaceFixer("adetailer", model)
    if mode == "on" and restorers:
        return FaceFixer("restore", _restorer(restorers, "CodeFormer") or restorers[0])
    if mode in RESTORERS:
        name = _restorer(restorers, RESTORERS[mode])
        return FaceFixer("restore", name) if name else None
    return None


def apply_face_fix(payload: dict[str, Any], mode: str | None, fixer: FaceFixer | None, flavor: Flavor | str) -> None:
    """Put the face fix in a txt2img/img2img payload. ``fixer``: what the backend that runs the job does (chosen
    when the job starts); without one, the mode's plain reading (``on``: the webui's restoration)."""
    if not mode or mode == "off":
        return
    if fixer is None:
        fixer = (
            FaceFixer("adetailer", DEFAULT_AD_MODEL)
            if mode == "adetailer"
            else FaceFixer("restore", RESTORERS.get(mode, ""))
        )
    if fixer.kind == "adetailer":
        unit = {"ad_model": fixer.model or DEFAULT_AD_MODEL}
        args: list[Any] = [True, False, unit] if Flavor(flavor) is Flavor.FORGE else [unit]
        payload.setdefault("alwayson_scripts", {})[ADETAILER] = {"args": args}
        return
    payload["restore_faces"] = True
    if fixer.model:
        payload.setdefault("override_settings", {})["face_restoration_model"] = fixer.model


def face_fix_from_infotext(params: Mapping[str, str]) -> str | None:
    """The ``face_fix`` value that redraws an image from its infotext; None: it had none."""
    if params.get("ADetailer model"):
        return "adetailer"
    restored = params.get("Face restoration")
    if restored:
        low = restored.casefold()
        return next((k for k, v in RESTORERS.items() if v.casefold() == low), "on")
    return None
