"""Languages end to end: a member's answers in their Discord language, the public result in the server's (or the
one it chose with /settings), commands registered with localized descriptions and English names."""

from __future__ import annotations

from pathlib import Path

from tests.cogs.harness import ALICE, BOB, CHANNEL, GUILD, Easel, running_easel
from tests.fakes.discord_fake import FakeInteraction, FakeMessage

ADMIN = 333333333333333338
MANAGE_GUILD = 1 << 5


def labels(message: FakeMessage) -> list[str]:
    return [c["label"] for c in message.walk_components() if c.get("label")]


def button(message: FakeMessage, action: str) -> str:
    return next(c for c in message.all_custom_ids() if c.startswith(f"easel:{action}:"))


async def command(e: Easel, name: str, user: int, sub: str | None = None, **options: object) -> FakeInteraction:
    inter = await e.discord.invoke(
        name, options or None, user_id=user, guild_id=GUILD, channel_id=CHANNEL, subcommand=sub
    )
    await inter.wait_response(5)
    return inter


async def test_a_german_member_gets_german_answers_while_the_result_stays_in_the_servers_language(
    tmp_path: Path,
) -> None:
    async with running_easel(tmp_path) as e:
        e.discord.user_locales[ALICE] = "de"  # the server stays en-US

        refused = await e.draw(width=500)
        assert refused.ephemeral
        assert (
            "width muss ein Vielfaches von 8 sein (erhalten: 500); versuch 496." in refused.response["data"]["content"]
        )
        english = await e.draw(user=BOB, width=500)  # the same refusal for an English member
        assert "width must be a multiple of 8 (got 500); try 496." in english.response["data"]["content"]

        inter = await e.draw(prompt="ein roter Fuchs")
        queued = inter.response["data"]["content"]
        assert "eingereiht: **#1** in der Warteschlange" in queued
        assert "Das Ergebnis wird in diesem Kanal gepostet." in queued
        assert inter.original is not None and labels(inter.original) == ["Abbrechen"]

        result = await e.result_for(ALICE)
        assert "here is your drawing" in result.content and "Seed: " in result.content
        assert "Reroll" in labels(result) and "Neu würfeln" not in labels(result)
        done = await e.wait_reply(inter, lambda t: t.startswith("Fertig:"))
        assert "wurde im Kanal gepostet" in done

        mine = await command(e, "queue", ALICE)
        assert "Du hast keine wartenden Jobs." in mine.response["data"]["content"]
        assert "You have no jobs waiting." in (await command(e, "queue", BOB)).response["data"]["content"]

        # A button on Alice's result, clicked by a German member who may not use it: refused in German.
        e.discord.user_locales[BOB] = "de"
        click = await e.discord.click(result, button(result, "delete"), user_id=BOB, guild_id=GUILD, channel_id=CHANNEL)
        await click.wait_response(5)
        assert click.ephemeral
        assert "Nur wer den Job angefordert hat oder ein Moderator" in click.response["data"]["content"]


async def test_a_german_server_gets_its_results_in_german_and_an_english_member_their_answers_in_english(
    tmp_path: Path,
) -> None:
    async with running_easel(tmp_path) as e:
        e.discord.guild_locales[GUILD] = "de"
        inter = await e.draw(prompt="a fox", seed=7)
        assert "Queued" in inter.response["data"]["content"]
        result = await e.result_for(ALICE)
        assert (
            "hier ist dein Bild" in result.content and "Seed: 7 ·" in result.content and "Sampler: " in result.content
        )
        assert {"Neu würfeln", "Variieren", "Hochskalieren", "Info", "Löschen"} <= set(labels(result))
        await e.wait_reply(inter, lambda t: t.startswith("Done:"))


async def test_a_server_can_choose_the_language_of_its_results(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        assert e.bot is not None
        if "cogs.settings" not in e.bot.extensions:  # until bot.py lists it in EXTENSIONS
            await e.bot.load_extension("cogs.settings")
            await e.bot.sync_commands()
        e.discord.add_member(GUILD, ADMIN, name="admin", permissions=MANAGE_GUILD)
        bad = await command(e, "settings", ADMIN, "set", key="language", value="xx")
        assert "language must be one of: auto, de" in bad.response["data"]["content"]
        e.discord.user_locales[ADMIN] = "de"  # a German admin finds the key in German and sees the languages named
        keys = await e.discord.autocomplete(
            "settings", {"key": "sprache"}, "key", user_id=ADMIN, guild_id=GUILD, channel_id=CHANNEL, subcommand="set"
        )
        assert [c["value"] for c in keys] == ["language"]
        assert keys[0]["name"].startswith("language: Sprache der öffentlichen Ergebnisse")
        values = await e.discord.autocomplete(
            "settings",
            {"key": "language", "value": ""},
            "value",
            user_id=ADMIN,
            guild_id=GUILD,
            channel_id=CHANNEL,
            subcommand="set",
        )
        labels = [(c["name"], c["value"]) for c in values]
        assert labels[:2] == [("auto (die Discord-Sprache des Servers)", "auto"), ("de (Deutsch)", "de")]
        assert ("ja (日本語)", "ja") in labels and len(labels) == 10  # auto and the nine shipped languages
        e.discord.user_locales[ADMIN] = "en-US"
        ok = await command(e, "settings", ADMIN, "set", key="language", value="de")
        assert "`language` is now `de` for this server." in ok.response["data"]["content"]

        await e.draw(prompt="a fox")  # an en-US member on an en-US server
        assert "hier ist dein Bild" in (await e.result_for(ALICE)).content

        await command(e, "settings", ADMIN, "reset", key="language")
        await e.draw(prompt="a fox", seed=9)
        second = await e.discord.wait_for_message(
            lambda m: m.channel_id == CHANNEL and bool(m.attachments) and "Seed: 9 ·" in m.content, timeout=15
        )
        assert "here is your drawing" in second.content


async def test_commands_carry_german_descriptions_and_keep_english_names(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        draw = e.discord._find_command("draw", GUILD, 1)
        assert draw["description"] == "Draw an image with Stable Diffusion"
        assert draw["description_localizations"]["de"] == "Ein Bild mit Stable Diffusion zeichnen"
        assert not draw.get("name_localizations")
        options = {o["name"]: o for o in draw["options"]}
        assert options["prompt"]["description_localizations"]["de"] == "Was gezeichnet werden soll"
        assert not options["prompt"].get("name_localizations")
        aspect = {c["value"]: c for c in options["aspect"]["choices"]}
        assert aspect["default"]["name_localizations"]["de"] == "Standard"
        assert not aspect["16:9"].get("name_localizations")  # a ratio is not text
        for cmd in [draw, e.discord._find_command("queue", GUILD, 1)]:
            for text in [cmd["description_localizations"].values()] + [
                o.get("description_localizations", {}).values() for o in cmd.get("options", [])
            ]:
                assert all(len(t) <= 100 for t in text)
        menu = e.discord._find_command("Image info", GUILD, 3)  # read in the Apps menu, not typed: translated
        assert menu["name_localizations"]["de"] == "Bildinfo"
        assert e.discord.validation_errors == []


async def test_a_failure_reaches_a_german_member_in_german(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        e.discord.user_locales[ALICE] = "de"
        e.webui.fail_next("txt2img", 422, {"detail": [{"loc": ["body", "steps"], "msg": "bad", "type": "x"}]})
        inter = await e.draw(prompt="wird scheitern")
        text = await e.wait_reply(inter, lambda t: "fehlgeschlagen" in t)
        assert "Der Bildserver hat die Anfrage abgelehnt:" in text and "(Fehler-ID `" in text


async def test_the_languages_of_a_job_survive_a_restart(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        e.discord.user_locales[ALICE] = "de"
        e.discord.guild_locales[GUILD] = "fr"  # the server's language: the result is French
        e.webui.hold()
        inter = await e.draw(prompt="ein Fuchs")
        await e.wait_reply(inter, lambda t: t.startswith("Zeichne"))
        await e.stop_bot()
        e.discord.user_locales[ALICE] = "en-US"  # what counts is the language the job was asked in
        await e.start_bot()
        e.webui.release()
        result = await e.result_for(ALICE)
        assert "voici ton image" in result.content
        assert (await e.wait_reply(inter, lambda t: t.startswith("Fertig:"))).endswith(str(result.id))


async def test_the_log_channel_is_told_in_the_servers_language_and_the_member_in_theirs(tmp_path: Path) -> None:
    logs = 222222222222222229
    async with running_easel(tmp_path, start=False) as e:
        e.discord.add_channel(GUILD, logs, name="mod-log")
        e.discord.add_member(GUILD, ADMIN, name="admin", permissions=MANAGE_GUILD)
        e.discord.guild_locales[GUILD] = "de"  # before the start: the guild arrives with its preferred locale
        bot = await e.start_bot()
        if "cogs.settings" not in bot.extensions:
            await bot.load_extension("cogs.settings")
            await bot.sync_commands()
        await command(e, "settings", ADMIN, "set", key="log_channel", value=f"<#{logs}>")
        inter = await e.draw(prompt="a n@ked t0ddler")  # an en-US member
        assert "Easel never draws sexual content involving minors" in inter.response["data"]["content"]
        logged = await e.discord.wait_for_message(lambda m: m.channel_id == logs, timeout=10)
        assert logged.content.startswith(f"Sicherheit: Prompt von <@{ALICE}> in <#{CHANNEL}> (nichts wurde eingereiht)")
