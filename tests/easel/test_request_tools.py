"""The request fields of the image tools: the inpainting payload, the stored record, jobs stored before them."""

from __future__ import annotations

import base64

from easel.request import DrawRequest, build_payload


def test_a_mask_makes_an_inpainting_payload() -> None:
    req = DrawRequest(prompt="p", img2img=True, outpaint="zoom:2", mask_blur=6, init_image=b"init", mask=b"mask")
    payload = build_payload(req)
    assert payload["init_images"] == [base64.b64encode(b"init").decode()]
    assert payload["mask"] == base64.b64encode(b"mask").decode()
    assert (payload["mask_blur"], payload["inpainting_fill"], payload["inpaint_full_res"]) == (6, 1, False)
    assert "mask" not in build_payload(DrawRequest(prompt="p", img2img=True, init_image=b"init"))


def test_the_mask_is_never_stored_and_old_records_load() -> None:
    req = DrawRequest(prompt="p", img2img=True, outpaint="pan:left", init_image=b"i", mask=b"m")
    record = req.to_record()
    assert "mask" not in record and record["outpaint"] == "pan:left"
    assert DrawRequest.from_record(record).outpaint == "pan:left"
    old = {k: v for k, v in DrawRequest(prompt="before the tools").to_record().items()}
    for key in ("describe", "outpaint", "mask_blur"):
        old.pop(key)
    loaded = DrawRequest.from_record(old)
    assert (loaded.describe, loaded.outpaint, loaded.mask, loaded.kind) == ("", "", None, "txt2img")
    assert DrawRequest.from_record({**old, "mask": "junk"}).mask is None
