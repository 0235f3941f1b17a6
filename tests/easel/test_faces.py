"""easel.faces: which way a backend fixes faces, and what goes in the payload."""

from __future__ import annotations

from easel.faces import FaceFixer, apply_face_fix, face_fix_from_infotext, pick


def test_pick_prefers_adetailer_for_on_and_restorers_by_name() -> None:
    both = {"adetailer": True, "ad_models": ("hand_yolov8n.pt", "face_yolov8n.pt"), "restorers": ("CodeFormer",)}
    assert pick("on", **both) == FaceFixer("adetailer", "face_yolov8n.pt")
    assert pick("adetailer", **{**both, "ad_models": ("mediapipe_face_full",)}) == FaceFixer(
        "adetailer", "mediapipe_face_full"
    )
    assert pick("codeformer", **both) == FaceFixer("restore", "CodeFormer")
    assert pick("gfpgan", **both) is None
    restore_only = {"adetailer": False, "ad_models": (), "restorers": ("GFPGAN", "CodeFormer")}
    assert pick("on", **restore_only) == FaceFixer("restore", "CodeFormer")
    assert pick("adetailer", **restore_only) is None
    assert pick("on", adetailer=False, ad_models=(), restorers=()) is None


def test_payload_and_codes() -> None:
    for fixer in (FaceFixer("adetailer", "face_yolov8n.pt"), FaceFixer("restore", "")):
        assert FaceFixer.decode(fixer.encode()) == fixer
    assert FaceFixer.decode("") is None
    payload: dict = {}
    apply_face_fix(payload, "gfpgan", None, "a1111")  # no backend chosen yet: the mode's plain reading
    assert payload == {"restore_faces": True, "override_settings": {"face_restoration_model": "GFPGAN"}}
    payload = {}
    apply_face_fix(payload, "off", FaceFixer("restore", "CodeFormer"), "a1111")
    assert payload == {}


def test_from_infotext() -> None:
    assert face_fix_from_infotext({"ADetailer model": "face_yolov8n.pt"}) == "adetailer"
    assert face_fix_from_infotext({"Face restoration": "GFPGAN"}) == "gfpgan"
    assert face_fix_from_infotext({"Face restoration": "RestoreFormer"}) == "on"
    assert face_fix_from_infotext({}) is None
