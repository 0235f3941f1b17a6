"""The image tools' texts: the private description (copyable, never broken out of its block, within 2000
characters), the names of tool results, the picture menu's labels."""

from __future__ import annotations

from easel.jobs import Job
from easel.request import DrawRequest
from easel.texts.tools import describe_result, image_option_label, original_section, tool_kind


def job(**req: object) -> Job:
    return Job(id="abcd1234", request=DrawRequest(prompt="", **req), user_id=1, channel_id=2)  # type: ignore[arg-type]


def test_describe_result_is_a_code_block_that_fits() -> None:
    text = describe_result(job(describe="clip"), "a cat on a mat")
    assert "CLIP" in text and "`abcd1234`" in text and text.endswith("```\na cat on a mat\n```")
    hostile = describe_result(job(describe="deepdanbooru"), "```@everyone " + "x" * 5000)
    assert len(hostile) <= 2000 and hostile.count("```") == 2 and "DeepDanbooru" in hostile
    assert "returned no text" in describe_result(job(describe="clip"), "  ")


def test_original_section_and_names() -> None:
    title, body = original_section("a fox\nSteps: 20")
    assert title and body.startswith("```") and "Steps: 20" in body and len(body) <= 4096
    assert tool_kind(DrawRequest(prompt="", upscale=True, upscale_factor=2.5)) == "upscale 2.5x"
    assert tool_kind(DrawRequest(prompt="p", outpaint="zoom:1.5")) == "zoom out 1.5x"
    assert tool_kind(DrawRequest(prompt="p", outpaint="pan:left")) == "pan left"
    assert tool_kind(DrawRequest(prompt="p")) is None
    assert image_option_label(0, "x" * 300).startswith("1. ") and len(image_option_label(0, "x" * 300)) <= 100
