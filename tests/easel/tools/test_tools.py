"""The tools' requests: upscale sizes within the factor range and the pixel ceiling, describe, zoom out / pan."""

from __future__ import annotations

import pytest

from easel.config import ToolsConfig
from easel.errors import RequestError
from easel.i18n import use_locale
from easel.request import DrawRequest
from easel.tools import (
    FaceRestorer,
    Interrogator,
    describe_request,
    face_payload,
    outpaint_request,
    sized_upscale,
    upscale_request,
    upscale_size,
)
from tests.helpers import make_config


def test_upscale_size_within_the_range_and_the_ceiling() -> None:
    tools = ToolsConfig(max_upscale_factor=3.0, max_upscale_pixels=1024 * 1024)
    assert upscale_size((256, 200), 2.0, tools) == (512, 400)
    assert upscale_size((300, 300), 3.0, tools) == (900, 900)
    for factor in (1.2, 3.5, float("inf"), float("nan")):
        with pytest.raises(RequestError, match=r"between 1\.5 and 3"):
            upscale_size((100, 100), factor, tools)
    with pytest.raises(RequestError, match=r"at most 2\.00x for this picture"):
        upscale_size((512, 512), 3.0, tools)
    with pytest.raises(RequestError) as exc:
        upscale_size((1000, 1000), 1.5, tools)
    assert "at most" not in str(exc.value)  # nothing to suggest: even 1.5x is too much


def test_sized_upscale_sets_the_output_size() -> None:
    req = upscale_request(upscaler="Lanczos", factor=2.0, source="attachment:1")
    sized = sized_upscale(ToolsConfig())(req, (320, 200))
    assert (sized.width, sized.height, sized.upscale, sized.kind) == (640, 400, True, "upscale")


def test_describe_request() -> None:
    req = describe_request("deepdanbooru")
    assert req.describe == Interrogator.DEEPDANBOORU and req.kind == "describe" and not req.img2img
    with pytest.raises(ValueError):
        describe_request("gpt")


def test_outpaint_request_keeps_prompt_model_and_seed_policy() -> None:
    cfg = make_config(tools={"outpaint_denoise": 0.7, "outpaint_mask_blur": 6})
    base = DrawRequest(prompt="a bay", model="sdxl_base", steps=14, seed=42, count=4, hires_fix=True, aspect="1:1")
    req = outpaint_request(base, b"png", (512, 512), 45, "zoom:2", cfg, source="job1:3")
    assert (req.width, req.height) == (1024, 1024)
    assert (req.prompt, req.model, req.steps, req.seed, req.count) == ("a bay", "sdxl_base", 14, 45, 1)
    assert req.img2img and not req.hires_fix and req.aspect is None and req.kind == "outpaint"
    assert (req.strength, req.mask_blur, req.source, req.init_image) == (0.7, 6, "job1:3", b"png")
    random = outpaint_request(DrawRequest(prompt="x", seed=-1), b"png", (512, 512), 99, "pan:up", cfg, source="j:0")
    assert random.seed == -1 and (random.width, random.height) == (512, 768)


def test_face_restoration_payload() -> None:
    assert face_payload("") == {}
    assert face_payload("gfpgan") == {"gfpgan_visibility": 1.0}
    assert face_payload("codeformer") == {"codeformer_visibility": 1.0, "codeformer_weight": 0.5}
    assert upscale_request(upscaler="x", factor=2, face_restore=FaceRestorer.GFPGAN).face_restore == "gfpgan"
    with pytest.raises(ValueError):
        upscale_request(upscaler="x", factor=2, face_restore="restoreformer")


def test_the_upscale_ceiling_is_written_the_members_way() -> None:
    tools = ToolsConfig(max_upscale_pixels=4_194_304)
    with use_locale("de"), pytest.raises(RequestError) as err:
        upscale_size((2048, 2048), 2.0, tools)
    assert "4.194.304" in str(err.value)
