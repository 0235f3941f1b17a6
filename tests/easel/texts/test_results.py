from __future__ import annotations

from dataclasses import replace

import pytest

from easel.config import parse_config
from easel.jobs import Job, StoredImage
from easel.options import MAX_SEED
from easel.request import DrawOptions, DrawRequest, build_request
from easel.texts.results import controls_line, draw_command, info_sections, result_summary

CFG = parse_config({"backends": [{"url": "http://127.0.0.1:7860"}]}, env={})


def test_draw_command_writes_the_options_that_reproduce_the_image() -> None:
    req = build_request(
        DrawOptions(prompt="a red\nfox", negative_prompt="blurry", scheduler="Karras", cfg_scale=6.5, hires_fix=True),
        CFG,
    )
    line = draw_command(req, 1234)
    assert line.startswith("/draw prompt:a red fox negative_prompt:blurry sampler:Euler a scheduler:Karras ")
    assert "steps:25 width:512 height:512 cfg_scale:6.5 seed:1234" in line and line.endswith("hires_fix:True")
    assert "strength" not in line and "count" not in line and "spoiler" not in line
    img = build_request(DrawOptions(prompt="x", init_image_size=(512, 512), strength=0.35), CFG)
    assert draw_command(img, 1).endswith("strength:0.35")


@pytest.mark.parametrize(("seed", "shown"), [(MAX_SEED, MAX_SEED), (MAX_SEED + 1, 0), (MAX_SEED + 3, 2)])
def test_seed_of_a_later_image_past_the_largest_seed_wraps(seed: int, shown: int) -> None:
    # image k of a batch has seed + k, which can pass the largest seed /draw accepts
    req = build_request(DrawOptions(prompt="x", seed=MAX_SEED, count=4), CFG)
    assert f"seed:{shown} " in draw_command(req, seed) + " "
    job = Job(id="abcd1234", request=req, user_id=1, channel_id=2)
    images = [StoredImage(k, b"", "x\nSeed: 1", MAX_SEED + k) for k in range(4)]
    for _title, body in info_sections(job, images):
        seed_text = body.split("/draw ")[1].split(" seed:")[1].split()[0]
        assert 0 <= int(seed_text) <= MAX_SEED
        assert build_request(DrawOptions(prompt="x", seed=int(seed_text)), CFG).seed == int(seed_text)


def test_the_ratio_shows_in_the_summary_and_the_draw_line_only_when_asked() -> None:
    wide = build_request(DrawOptions(prompt="x", aspect="16:9"), CFG)
    job = Job(id="abcd1234", request=wide, user_id=1, channel_id=2)
    images = [StoredImage(0, b"", "x\nSteps: 25, Seed: 7, Size: 680x384", 7)]
    assert "Size: 680x384 (16:9)" in result_summary(job, images)
    line = draw_command(wide, 7)
    assert "width:680 height:384 aspect:16:9 " in line
    assert build_request(DrawOptions(prompt="x", width=680, height=384, aspect="16:9"), CFG) == wide  # pasted back
    plain = build_request(DrawOptions(prompt="x"), CFG)
    assert "aspect" not in draw_command(plain, 7)
    assert (
        "(" not in result_summary(Job(id="abcd1234", request=plain, user_id=1, channel_id=2), images).split("Size:")[1]
    )


def test_image_check_texts_count_and_name_the_job() -> None:
    from easel.jobs import Job
    from easel.request import DrawRequest
    from easel.texts.results import (
        all_withheld_text,
        flagged_blur_note,
        flagged_spoiler_note,
        withheld_text,
    )

    job = Job(id="abc12345", request=DrawRequest(prompt="p"), user_id=1, channel_id=2)
    assert flagged_spoiler_note(1).startswith("-# 1 image flagged") and "2 images" in flagged_spoiler_note(2)
    assert "blurred" in flagged_blur_note(3) and "3 images" in flagged_blur_note(3)
    assert "`abc12345`" in all_withheld_text(job)
    assert withheld_text(1, 2) == "1 of 2 images were not posted: the image check flagged them."


def _job(req: DrawRequest) -> Job:
    return Job(id="abcd1234", request=req, user_id=1, channel_id=2)


def test_the_summary_names_the_loras_face_fix_and_preset() -> None:
    req = build_request(DrawOptions(prompt="a fox", lora="add_detail:0.8, pixel*art:0.5", face_fix="on"), CFG)
    req = replace(req, preset="server:photo")
    text = result_summary(_job(req), [StoredImage(0, b"", "a fox\nSeed: 3", 3)])
    assert " · LoRA: add\\_detail 0.8, pixel\\*art 0.5 · Face fix: on · Preset: server:photo" in text
    assert controls_line(req) == "LoRA: add_detail 0.8, pixel*art 0.5 · Face fix: on · Preset: server:photo"


def test_a_job_stored_before_loras_face_fix_and_presets_names_none() -> None:
    record = build_request(DrawOptions(prompt="a fox"), CFG).to_record()
    for key in ("lora", "face_fix", "face_fixer", "preset"):
        record.pop(key)
    old = DrawRequest.from_record(record)
    text = result_summary(_job(old), [])
    assert "LoRA" not in text and "Face fix" not in text and "Preset" not in text
    assert controls_line(old) == ""
    off = build_request(DrawOptions(prompt="a fox", face_fix="off"), CFG)
    assert "Face fix" not in result_summary(_job(off), [])


def test_many_long_loras_stay_within_the_content_limit() -> None:
    loras = ", ".join(f"{'_' * 190}{k:02d}:-1.25" for k in range(20))  # 20 LoRAs of 192 characters, all escaped
    req = DrawRequest(
        prompt="*" * 3000, negative_prompt="_" * 3000, model="~" * 300, style="|" * 300, lora=loras, preset="p" * 60
    )
    assert len(req.loras) == 20
    images = [StoredImage(k, b"", "x\nSeed: 3", 3 + k) for k in range(4)]
    text = result_summary(_job(req), images)
    assert len(text) <= 2000
    assert "LoRA: " in text and "-1.25" in text and "Preset: " + "p" * 60 in text
    assert len(controls_line(req)) <= 1000
