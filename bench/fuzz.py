"""fuzz: 1,000 random /draw option sets (300 with --quick), a third of them with a hostile init_image.

Options are drawn from the /draw command the bot registered with the Discord fake (types, ranges, lengths),
the way a Discord client can send them: any value in range, boundaries more often, free text for the
autocompleted options, markdown, mentions, odd Unicode. Attachments: wrong content type, truncated PNG, a PNG
with hundreds of zlib-bomb zTXt chunks, a PNG header claiming 100,000 x 100,000 pixels, random bytes named
.png, an empty file, GIF/BMP bytes sent as image/png, and some valid PNGs. Sent in bursts of 25 through the
fake's INTERACTION_CREATE to the real bot, 2 webui backends (gen 0 s, gradient images).

Figures: unanswered interactions (no callback in 6 s, or a deferred answer never completed; target 0),
unhandled exceptions in the log (discord.py "Ignoring exception", asyncio "never retrieved", the loop's
exception handler; target 0), ERROR records with a traceback from the bot's own loggers (informative), first
answers that were not private (target 0), requests the bot sent off Discord's spec, accepted jobs that were not
posted, and RSS growth between the first wave and the end (after dropping what the fakes recorded).
"""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import os
import random
import re
import struct
import zlib
from collections import Counter
from typing import Any

from PIL import Image

from bench.common import MODELS, Report, Rig, rig, rss_mb
from tests.cogs.harness import CHANNEL, GUILD
from tests.fakes.discord_fake import FakeAttachment, FakeInteraction

BURST = 25
WAVE = 100
ANSWER_TIMEOUT = 6.0  # seconds for the first callback (Discord allows 3)
FINISH_TIMEOUT = 20.0  # seconds for a deferred answer to be completed
reasons = Counter[str]()  # first answers by kind


# ---- hostile attachments ------------------------------------------------------------------------------------


def _png(width: int = 64, height: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (90, 140, 200)).save(out, format="PNG")
    return out.getvalue()


def _chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def _ztxt_bomb(chunks: int = 400) -> bytes:
    """A valid 64x64 PNG carrying ``chunks`` zTXt chunks, each ~1 KB that inflates to 1 MiB of zeros."""
    base = _png()
    bomb = zlib.compress(b"\0" * 2**20, 9)
    extra = b"".join(_chunk(b"zTXt", b"bomb%d\0\0" % i + bomb) for i in range(chunks))
    return base[:33] + extra + base[33:]  # after the signature and IHDR


def _huge_header(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose IHDR claims width x height pixels, with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _other_format(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(out, format=fmt)
    return out.getvalue()


class Attachments:
    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.valid = _png(96, 64)
        self.bomb = _ztxt_bomb()
        self.huge = _huge_header()
        self.gif = _other_format("GIF")
        self.bmp = _other_format("BMP")
        self.kinds = Counter[str]()

    def make(self) -> FakeAttachment:
        rnd = self.rnd
        kind = rnd.choice(
            ["valid", "wrong-type", "truncated", "ztxt-bomb", "huge-header", "garbage", "empty", "gif-as-png", "bmp"]
        )
        self.kinds[kind] += 1
        if kind == "valid":
            return FakeAttachment("photo.png", self.valid, content_type="image/png")
        if kind == "wrong-type":
            return FakeAttachment("photo.png", self.valid, content_type=rnd.choice(["text/plain", "application/zip"]))
        if kind == "truncated":
            return FakeAttachment("cut.png", self.valid[: rnd.randrange(8, len(self.valid))], content_type="image/png")
        if kind == "ztxt-bomb":
            return FakeAttachment("bomb.png", self.bomb, content_type="image/png")
        if kind == "huge-header":
            return FakeAttachment("huge.png", self.huge, content_type="image/png")
        if kind == "garbage":
            return FakeAttachment("noise.png", rnd.randbytes(rnd.randrange(1, 4096)), content_type="image/png")
        if kind == "empty":
            return FakeAttachment("empty.png", b"", content_type="image/png")
        if kind == "gif-as-png":
            return FakeAttachment("anim.png", self.gif, content_type="image/png")
        return FakeAttachment("old.png", self.bmp, content_type="image/webp")


# ---- random option values from the registered command -------------------------------------------------------

NASTY = [
    "@everyone",
    "@here",
    "<@&444444444444444441>",
    "<@333333333333333331>",
    "```",
    "||spoiler||",
    "# heading",
    "[link](https://example.com)",
    "\u202eevil",
    "zero\u200bwidth",
    "👩‍👩‍👧‍👦",
    "e\u0301\u0301\u0301",
    "Negative prompt: x",
    "Steps: 9999, Seed: -5, Size: 99999x99999",
    '"quoted"',
    "\\",
    "%s %d {0}",
    "<lora:../../etc/passwd:1>",
]
KNOWN = {
    "model": list(MODELS),
    "sampler": ["Euler a", "DPM++ 2M", "UniPC"],
    "scheduler": ["Automatic", "Karras", "Exponential"],
    "style": ["cinematic", "none"],
    "preset": ["none"],  # nobody has saved one here: a random name is refused (that answer is checked too)
    "lora": ["add_detail", "add_detail:0.5", "add_detail:-1, lcm-lora-sdv1-5:0.8"],
}


def _text(rnd: random.Random, lo: int, hi: int) -> str:
    pick = rnd.random()
    if pick < 0.3:
        n = rnd.randint(lo, min(hi, 80))
        text = "".join(rnd.choice("abcdefghij klmnop,:()[]<>") for _ in range(n))
    elif pick < 0.55:
        text = " ".join(rnd.choice(NASTY) for _ in range(rnd.randint(1, 6)))
    elif pick < 0.75:
        n = rnd.randint(lo, min(hi, 200))
        text = "".join(
            chr(rnd.choice([rnd.randint(0x20, 0x7E), rnd.randint(0xA0, 0xD7FF), rnd.randint(0x1F300, 0x1FAFF)]))
            for _ in range(n)
        )
    elif pick < 0.85:
        text = "x" * hi  # at the length limit
    else:
        text = "\n".join("line" for _ in range(rnd.randint(1, 30)))
    text = text.strip()[:hi]  # Discord trims string options
    return text if len(text) >= max(lo, 1) else "x" * max(lo, 1)


def _number(rnd: random.Random, odef: dict[str, Any], integer: bool) -> int | float:
    lo = odef.get("min_value", -(2**31) if integer else -1e6)
    hi = odef.get("max_value", 2**31 if integer else 1e6)
    pick = rnd.random()
    if pick < 0.3:
        return rnd.choice([lo, hi])
    if integer:
        value = rnd.randint(int(lo), int(hi))
        if odef["name"] in ("width", "height") and rnd.random() < 0.7:
            value = max(int(lo), min(int(hi), value // 8 * 8))
        return value
    return min(hi, max(lo, round(rnd.uniform(lo, hi), rnd.choice([0, 1, 2, 6]))))


def random_options(rnd: random.Random, command: dict[str, Any], attachments: Attachments) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for odef in command.get("options") or []:
        name, otype = odef["name"], odef["type"]
        if not odef.get("required") and rnd.random() > 0.4:
            continue
        if odef.get("choices"):  # Discord's client sends only one of the choices
            options[name] = rnd.choice(odef["choices"])["value"]
        elif otype == 3:
            if name in KNOWN and rnd.random() < 0.7:
                options[name] = rnd.choice(KNOWN[name])
            else:
                options[name] = _text(rnd, odef.get("min_length", 0), odef.get("max_length", 100))
        elif otype == 4:
            options[name] = _number(rnd, odef, True)
        elif otype == 10:
            options[name] = _number(rnd, odef, False)
        elif otype == 5:
            options[name] = rnd.random() < 0.5
        elif otype == 11:
            if rnd.random() < 0.75:  # with the 0.4 above: about a third of all /draw
                options[name] = attachments.make()
    # strength / hires_fix alone are refused at once ("only with an init_image"): keep some, not most
    if "init_image" not in options and "strength" in options and rnd.random() < 0.85:
        del options["strength"]
    if "init_image" in options and options.get("hires_fix") and rnd.random() < 0.85:
        del options["hires_fix"]
    return options


# ---- watching the log ---------------------------------------------------------------------------------------


class LogWatch(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.unhandled: list[str] = []
        self.tracebacks: list[str] = []
        self.errors = Counter[str]()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        key = f"{record.name}: {message[:90]}"
        if record.levelno >= logging.ERROR:
            self.errors[key] += 1
        unhandled = (
            (record.name.startswith("discord") and "Ignoring exception" in message)
            or (record.name == "asyncio" and record.levelno >= logging.ERROR)
            or "never retrieved" in message
        )
        if unhandled:
            exc = record.exc_info[1] if record.exc_info else None
            self.unhandled.append(f"{key} {exc!r}")
        elif record.exc_info and record.levelno >= logging.ERROR:
            exc = record.exc_info[1]
            self.tracebacks.append(f"{key} {type(exc).__name__}: {exc}"[:200])


# ---- the bench ---------------------------------------------------------------------------------------------


async def _outcome(r: Rig, inter: FakeInteraction) -> str:
    try:
        await inter.wait_response(ANSWER_TIMEOUT)
    except TimeoutError:
        return "unanswered"
    if inter.response_type == 5:
        try:
            await r.discord.wait_until(
                lambda: inter.original is not None and not inter.original.loading, FINISH_TIMEOUT, "deferred answer"
            )
        except TimeoutError:
            return "deferred, never completed"
    if not inter.ephemeral:
        return "answered in public"
    return "answered"


def _reason(inter: FakeInteraction) -> str:
    """The first answer's text with numbers and quoted bits blanked: refusals grouped by kind."""
    text = (
        inter.original.content
        if inter.original is not None
        else ((inter.response or {}).get("data") or {}).get("content") or ""
    )
    text = re.sub(r"`[^`]*`|\d+(\.\d+)?", "#", text.split("\n")[0])
    return text[:70]


async def _one(r: Rig, rnd: random.Random, i: int, command: dict[str, Any], attachments: Attachments) -> str:
    options = random_options(rnd, command, attachments)
    user = r.users[i % len(r.users)]
    try:
        inter = await r.discord.invoke("draw", options, user_id=user, guild_id=GUILD, channel_id=CHANNEL)
    except (TypeError, ValueError) as exc:  # an option set Discord itself would refuse: a bug in this bench
        return f"bench bug: {exc}"
    outcome = await _outcome(r, inter)
    reasons[_reason(inter)] += 1
    return outcome


async def run(quick: bool) -> Report:
    total = 300 if quick else 1000
    report = Report(
        "fuzz",
        f"{total} x /draw with random options (~1/3 with a hostile init_image) in bursts of {BURST}, "
        "2 backends, gen 0 s",
    )
    rnd = random.Random(20261201)
    attachments = Attachments(rnd)
    watch = LogWatch()
    logging.getLogger().addHandler(watch)
    loop_errors: list[str] = []
    loop = asyncio.get_running_loop()
    old_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, ctx: loop_errors.append(str(ctx.get("exception") or ctx["message"])))
    outcomes = Counter[str]()
    samples: list[float] = []
    accepted = posted = 0
    off_spec: list[str] = []
    fake_bugs: list[str] = []
    try:
        async with rig(2, users=20, gen_seconds=0.0) as r:
            command = next(c for c in r.discord.registered_commands(GUILD) if c["name"] == "draw")
            t0 = loop.time()
            done = 0
            while done < total:
                for start in range(done, min(done + WAVE, total), BURST):
                    stop = min(start + BURST, done + WAVE, total)
                    results = await asyncio.gather(*(_one(r, rnd, i, command, attachments) for i in range(start, stop)))
                    outcomes.update(results)
                done = min(done + WAVE, total)
                async with asyncio.timeout(300):
                    await r.bot.queue.wait_idle()
                try:  # wait_idle can return just before the last delivery is recorded
                    await r.wait_delivered(len(r.jobs), timeout=10)
                except TimeoutError:
                    pass  # counted below as accepted but not posted
                accepted += len(r.jobs)
                posted += sum(1 for job_id in r.jobs if job_id in r.delivered)
                off_spec += [
                    f"{e.get('route')}: {e.get('location')} {e.get('message')}" for e in r.discord.validation_errors
                ]
                fake_bugs += r.discord.internal_errors
                r.discord.validation_errors.clear()
                r.discord.internal_errors.clear()
                r.trim_fakes()
                gc.collect()
                samples.append(rss_mb())
            elapsed = loop.time() - t0
    finally:
        logging.getLogger().removeHandler(watch)
        loop.set_exception_handler(old_handler)

    unanswered = sum(n for k, n in outcomes.items() if k in ("unanswered", "deferred, never completed"))
    public = outcomes["answered in public"]
    unhandled = len(watch.unhandled) + len(loop_errors)
    report.add("unanswered interactions", str(unanswered), "0", unanswered == 0)
    report.add("unhandled exceptions in the log", str(unhandled), "0", unhandled == 0)
    report.add("first answers not private", str(public), "0", public == 0)
    report.add("requests off Discord's spec", str(len(off_spec)), "0", not off_spec)
    report.add("accepted jobs not posted", str(accepted - posted), "0", accepted == posted)
    report.add("ERROR records with a traceback (bot's own)", str(len(watch.tracebacks)))
    growth = samples[-1] - samples[0] if samples else float("nan")
    report.add("RSS after first wave / at end", f"{samples[0]:.1f} / {samples[-1]:.1f} MiB ({growth:+.1f} MiB)")
    report.add("RSS samples per wave (MiB)", " ".join(f"{s:.0f}" for s in samples))
    report.notes.append(
        f"MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX', 'unset')}: RSS growth here has been glibc's "
        "per-thread malloc arenas (image checks run in worker threads), flat with MALLOC_ARENA_MAX=2"
    )
    report.add("outcomes", ", ".join(f"{k}: {n}" for k, n in outcomes.most_common()))
    report.add("accepted / posted", f"{accepted} jobs queued, {posted} posted, in {elapsed:.0f} s")
    report.add("attachments sent", ", ".join(f"{k}: {n}" for k, n in sorted(attachments.kinds.items())))
    for text, n in reasons.most_common(8):
        report.notes.append(f"{n} x first answer: {text}")
    for line in (watch.unhandled + loop_errors)[:5]:
        report.notes.append(f"unhandled: {line}")
    for line in watch.tracebacks[:5]:
        report.notes.append(f"traceback: {line}")
    for key, n in watch.errors.most_common(5):
        report.notes.append(f"{n} x ERROR {key}")
    for line in off_spec[:3]:
        report.notes.append(f"off spec: {line}")
    for line in fake_bugs[:2]:
        report.notes.append(f"fake bug: {line[-300:]}")
    return report


if __name__ == "__main__":
    import sys

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("discord.client").setLevel(logging.ERROR)
    print(asyncio.run(run("--quick" in sys.argv)).render())
