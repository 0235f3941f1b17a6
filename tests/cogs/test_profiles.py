"""Model profiles end to end: a profile's values reach the webui's payload under the options given, a hidden model
is neither offered nor drawn, Forge gets its modules and distilled CFG, and admins override a profile per server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from easel.infotext import png_parameters
from tests.cogs.harness import ALICE, CHANNEL, GUILD, Easel, running_easel

ADMIN = 333333333333333338
MANAGE_GUILD = 1 << 5

XL_PROFILE: dict[str, Any] = {
    "model": "sdxl_base",
    "display_name": "SDXL",
    "description": "detailed, 1024 px",
    "steps": 30,
    "cfg_scale": 5.5,
    "sampler": "DPM++ 2M",
    "vae": "vae-ft-mse-840000.safetensors",
    "trigger_words": "masterpiece",
    "negative_prefix": "lowres",
}


async def run(e: Easel, name: str, sub: str, as_user: int = ADMIN, **options: object) -> str:
    inter = await e.discord.invoke(
        name, options or None, user_id=as_user, guild_id=GUILD, channel_id=CHANNEL, subcommand=sub
    )
    response = await inter.wait_response(5)
    assert inter.ephemeral
    return str(response["data"]["content"])


async def test_a_profile_sets_the_defaults_and_the_options_given_win(tmp_path: Path) -> None:
    async with running_easel(tmp_path, models=[XL_PROFILE]) as e:
        await e.draw(prompt="a castle", model="sdxl_base", seed=5)
        result = await e.result_for(ALICE)
        payload = e.webui.generations[-1]
        assert (payload["steps"], payload["cfg_scale"], payload["sampler_name"]) == (30, 5.5, "DPM++ 2M")
        assert payload["override_settings"]["sd_vae"] == "vae-ft-mse-840000.safetensors"
        assert (payload["width"], payload["height"]) == (1024, 1024)  # the name says SDXL: its native size
        assert payload["prompt"] == "a castle, masterpiece"
        assert payload["negative_prompt"].startswith("lowres")
        info = png_parameters(result.attachments[0].data)
        assert info is not None and "VAE: vae-ft-mse-840000" in info and "Steps: 30" in info

        await e.draw(prompt="a castle, masterpiece", model="sdxl_base", steps=12, cfg_scale=9, width=512, height=768)
        await e.discord.wait_until(lambda: len(e.webui.generations) == 2, timeout=10)
        payload = e.webui.generations[-1]
        assert (payload["steps"], payload["cfg_scale"], payload["width"], payload["height"]) == (12, 9.0, 512, 768)
        assert payload["prompt"] == "a castle, masterpiece"  # the trigger words once

        await e.draw(prompt="a field", model="v1-5-pruned-emaonly")  # no profile: SD 1.5 by its name
        await e.discord.wait_until(lambda: len(e.webui.generations) == 3, timeout=10)
        payload = e.webui.generations[-1]
        assert (payload["width"], payload["height"], payload["steps"]) == (512, 512, 25)
        assert "sd_vae" not in payload["override_settings"] and payload["prompt"] == "a field"


async def test_the_servers_default_wins_over_the_profile(tmp_path: Path) -> None:
    async with running_easel(tmp_path, models=[XL_PROFILE]) as e:
        e.discord.add_member(GUILD, ADMIN, name="admin", permissions=MANAGE_GUILD)
        assert "now `22`" in await run(e, "settings", "set", key="steps", value="22")
        await e.draw(prompt="a castle", model="sdxl_base")
        await e.result_for(ALICE)
        payload = e.webui.generations[-1]
        assert payload["steps"] == 22 and payload["cfg_scale"] == 5.5


async def test_a_hidden_model_is_not_offered_and_refused(tmp_path: Path) -> None:
    hidden = {"model": "v1-5-pruned-emaonly", "hidden": True}
    async with running_easel(tmp_path, models=[XL_PROFILE, hidden]) as e:
        inter = await e.draw(model="v1-5-pruned-emaonly")
        assert inter.ephemeral and "isn't offered here" in inter.response["data"]["content"]
        assert e.bot is not None and e.bot.queue.queued_jobs() == [] and e.webui.generations == []
        choices = await e.discord.autocomplete(
            "draw", {"prompt": "x", "model": ""}, "model", user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL
        )
        assert [(c["name"], c["value"]) for c in choices] == [("SDXL (sdxl_base) — detailed, 1024 px", "sdxl_base")]
        models = (await _models(e)).split("LoRA(s)")[0]  # the LoRA list may name "sdv1-5" LoRAs
        assert "SDXL \\(sdxl\\_base\\) — detailed, 1024 px" in models and "v1-5" not in models


async def _models(e: Easel) -> str:
    inter = await e.discord.invoke("models", None, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
    response = await inter.wait_response(5)
    return str(response["data"]["content"])


async def test_forge_gets_the_modules_and_the_distilled_cfg(tmp_path: Path) -> None:
    flux = {
        "model": "flux1-dev",
        "modules": ["/models/VAE/ae.safetensors", "/models/text_encoder/clip_l.safetensors"],
        "vae": "ignored-on-forge.safetensors",
        "steps": 20,
    }
    async with running_easel(tmp_path, start=False, flavor="forge", models=[flux]) as e:
        e.webui.models.append(type(e.webui.models[0]).make("flux1-dev"))
        await e.start_bot()
        await e.draw(prompt="a lighthouse", model="flux1-dev")
        result = await e.result_for(ALICE)
        payload = e.webui.generations[-1]
        assert payload["override_settings"]["forge_additional_modules"] == flux["modules"]
        assert "sd_vae" not in payload["override_settings"]
        # Flux, inferred from the name: CFG 1 and distilled CFG 3.5, the native 1024 size
        assert (payload["cfg_scale"], payload["distilled_cfg_scale"], payload["steps"]) == (1.0, 3.5, 20)
        assert (payload["width"], payload["height"]) == (1024, 1024)
        info = png_parameters(result.attachments[0].data)
        assert info is not None and "Distilled CFG Scale: 3.5" in info and "Module 1: ae" in info


async def test_admins_override_a_profile_on_their_server(tmp_path: Path) -> None:
    async with running_easel(tmp_path, models=[XL_PROFILE]) as e:
        e.discord.add_member(GUILD, ADMIN, name="admin", permissions=MANAGE_GUILD)
        assert "`steps` of sdxl\\_base is now `40`" in await run(
            e, "profile", "set", model="sdxl_base", key="steps", value="40"
        )
        assert "cfg_scale must be" in await run(e, "profile", "set", model="sdxl_base", key="cfg_scale", value="99")
        assert "Unknown model" in await run(e, "profile", "set", model="nope", key="steps", value="20")
        assert "Unknown sampler" in await run(e, "profile", "set", model="sdxl_base", key="sampler", value="Nope")
        shown = await run(e, "profile", "show", model="sdxl_base")
        assert "`steps`: 40 ★" in shown and "`cfg_scale`: 5.5" in shown
        await e.draw(prompt="a castle", model="sdxl_base")
        await e.result_for(ALICE)
        assert e.webui.generations[-1]["steps"] == 40

        assert "hidden" in await run(e, "profile", "set", model="sdxl_base", key="hidden", value="true")
        inter = await e.draw(prompt="again", model="sdxl_base")
        assert "isn't offered here" in inter.response["data"]["content"]
        assert "no server overrides" in await run(e, "profile", "reset", model="sdxl_base")
        assert await e.bot.store.get_model_profiles(GUILD) == {}  # type: ignore[union-attr]
        with pytest.raises(PermissionError, match="default_member_permissions"):  # Discord hides it from members
            await e.discord.invoke(
                "profile", {"model": "sdxl_base"}, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL, subcommand="show"
            )


async def test_a_reroll_keeps_the_vae_it_was_drawn_with(tmp_path: Path) -> None:
    async with running_easel(tmp_path, models=[XL_PROFILE]) as e:
        e.discord.add_member(GUILD, ADMIN, name="admin", permissions=MANAGE_GUILD)
        await e.draw(prompt="a castle", model="sdxl_base")
        result = await e.result_for(ALICE)
        await run(e, "profile", "set", model="sdxl_base", key="vae", value="other.safetensors")
        reroll = next(c for c in result.all_custom_ids() if c.startswith("easel:reroll:"))
        pressed = await e.discord.click(result, reroll, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
        await pressed.wait_response(5)
        await e.discord.wait_until(lambda: len(e.webui.generations) == 2, timeout=10)
        again = e.webui.generations[-1]
        assert again["override_settings"]["sd_vae"] == "vae-ft-mse-840000.safetensors"
        assert again["prompt"] == "a castle, masterpiece" and again["steps"] == 30
        await e.draw(prompt="a new castle", model="sdxl_base")  # a new drawing: the server's VAE now
        await e.discord.wait_until(lambda: len(e.webui.generations) == 3, timeout=10)
        assert e.webui.generations[-1]["override_settings"]["sd_vae"] == "other.safetensors"
