"""The one way into the queue: every rule once, in order, for /draw and every derived job (moved here from the
policy service's old check_draw/check_request tests, plus the races and the server defaults for derived jobs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from easel.admission import Admission, Ask, RequestContext
from easel.catalog import Catalog
from easel.config import Config, Limits
from easel.errors import PolicyError, QueueFull, RequestError
from easel.jobs import Job, JobState, StoredImage
from easel.policy import REFUSED_BLOCKED, REFUSED_PAUSED, REFUSED_WORD, PolicyService, SafetyConfig
from easel.queue import JobQueue
from easel.request import DrawOptions, DrawRequest
from easel.store import Store
from tests.helpers import LOCAL_URL, make_config

GUILD, CHAN, OTHER = 100, 200, 300
ADMIN, USER = 7, 8
HERE = RequestContext(user_id=USER, guild_id=GUILD, channel_id=CHAN)


def limits_config(**limits: Any) -> Config:
    """One nameless backend; limits over max_steps 50 and a 2 s cooldown."""
    return make_config([{"url": LOCAL_URL}], limits={"max_steps": 50, "cooldown_seconds": 2.0, **limits})


class Cat:
    """A catalog that knows one style (what /settings style checks against)."""

    known = True

    def model_names(self) -> list[str]:
        return []

    def samplers(self) -> list[str]:
        return ["Euler a"]

    def schedulers(self) -> list[str]:
        return ["Automatic"]

    def styles(self) -> list[str]:
        return ["Cinematic"]

    def resolve_model(self, name: str) -> str | None:
        return None

    def has_sampler(self, name: str) -> bool:
        return name in self.samplers()

    def has_scheduler(self, name: str) -> bool:
        return name in self.schedulers()

    def has_style(self, name: str) -> bool:
        return name in self.styles()


class Quiet:
    """A publisher that hears nothing (the queue's workers are not started in these tests)."""

    async def queued(self, job: Job, position: int, eta: float | None) -> None: ...
    async def started(self, job: Job, backend: str) -> None: ...
    async def progress(
        self, job: Job, fraction: float, eta: float | None, preview: bytes | None, **kw: Any
    ) -> None: ...
    async def deliver(self, job: Job, images: list[StoredImage], *, recovered: bool = False) -> int | None:
        return None

    async def failed(self, job: Job, message: str) -> None: ...
    async def cancelled(self, job: Job) -> None: ...


class Setup:
    def __init__(self, store: Store, cfg: Config, safety: SafetyConfig | None = None, now: float = 1_700_000_000.0):
        self.now = [now]
        self.store = store
        self.policy = PolicyService(store, cfg, safety, clock=lambda: self.now[0])
        self.queue = JobQueue(cfg, store, Catalog(), [], Quiet(), clock=lambda: self.now[0])  # type: ignore[arg-type]
        self.admission = Admission(self.policy, self.queue, Cat())

    async def admit(self, ask: Ask, ctx: RequestContext = HERE) -> Job:
        return (await self.admission.admit(ctx, ask)).job


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "easel.db")
    yield s
    await s.close()


def draw(prompt: str = "a cat", **opts: Any) -> Ask:
    return Ask(options=DrawOptions(prompt=prompt, **opts))


async def test_draw_gets_the_servers_defaults_limits_and_word_rules(store: Store) -> None:
    s = Setup(store, limits_config(), SafetyConfig(negative_prefix="lowres"))
    await s.policy.set_text(GUILD, "style", "Cinematic", by=ADMIN, catalog=Cat())
    await s.policy.set_text(GUILD, "nsfw", "spoiler", by=ADMIN)
    await s.policy.set_text(GUILD, "max_steps", "30", by=ADMIN)
    await s.policy.set_text(GUILD, "strip_words", "masterpiece", by=ADMIN)
    with pytest.raises(RequestError, match="steps must be between 1 and 30"):
        await s.admit(draw(steps=40))
    job = await s.admit(draw("masterpiece, a cat"))
    req = job.request
    assert (req.prompt, req.negative_prompt, req.style, req.spoiler) == ("a cat", "lowres", "Cinematic", True)
    assert (await store.get_job(job.id)) is not None  # stored before the answer
    with pytest.raises(QueueFull, match="Slow down"):  # the global 2 s cooldown, counted once
        await s.admit(draw())
    s.now[0] += 2.5
    await s.admit(draw())


async def test_blocked_and_paused(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="easel.admission")
    s = Setup(store, limits_config(cooldown_seconds=0.0), SafetyConfig(blocked_users=(666,)))
    await s.policy.add_items(GUILD, "blocked_users", [USER], by=ADMIN)
    for user in (USER, 666):
        with pytest.raises(PolicyError, match=REFUSED_BLOCKED):
            await s.admit(draw(), RequestContext(user_id=user, guild_id=GUILD, channel_id=CHAN))
    assert f"refused user {USER} in guild {GUILD} channel {CHAN}" in caplog.text
    await s.admit(draw(), RequestContext(user_id=USER, guild_id=GUILD + 1, channel_id=CHAN))  # other servers

    await s.policy.set_paused(GUILD, True, by=ADMIN, channel_id=CHAN)
    admin = RequestContext(user_id=ADMIN, guild_id=GUILD, channel_id=CHAN)
    with pytest.raises(PolicyError, match=REFUSED_PAUSED):
        await s.admit(draw(), admin)
    await s.policy.set_paused(GUILD, False, by=ADMIN)
    await s.admit(draw(), admin)


async def test_daily_quota_with_role_override(store: Store) -> None:
    s = Setup(store, limits_config(cooldown_seconds=0.0, max_queued_per_user=10))
    now = s.now[0]
    await s.policy.set_text(GUILD, "daily_quota", "2", by=ADMIN)
    await s.policy.set_role_override(GUILD, 55, {"daily_quota": 3}, by=ADMIN)

    async def add(job_id: str, created: float, state: JobState = JobState.DELIVERED) -> None:
        job = Job(id=job_id, request=DrawRequest(prompt="x"), user_id=USER, channel_id=CHAN, guild_id=GUILD)
        job.created_at = created
        await store.add_job(job)
        await store.update(job, state=state)

    await add("yday", now - 86400)  # yesterday: doesn't count
    await add("cancelled", now - 5, JobState.CANCELLED)  # cancelled: doesn't count
    await add("a", now - 10)
    await s.admit(draw())
    with pytest.raises(PolicyError, match=r"used your 2 drawings for today; more <t:\d+:R>"):
        await s.admit(draw())
    supporter = RequestContext(user_id=USER, guild_id=GUILD, channel_id=CHAN, role_ids=(55,))
    await s.admit(draw(), supporter)
    with pytest.raises(PolicyError, match="used your 3 drawings"):
        await s.admit(draw(), supporter)


async def test_channel_policy_and_content(store: Store) -> None:
    s = Setup(store, limits_config(cooldown_seconds=0.0, max_queued_per_user=10))
    await s.policy.add_items(GUILD, "allowed_channels", [OTHER], by=ADMIN)
    await s.policy.add_items(GUILD, "banned_words", ["cat"], by=ADMIN)
    await s.policy.set_text(GUILD, "img2img", "nsfw_only", by=ADMIN)
    other = RequestContext(user_id=USER, guild_id=GUILD, channel_id=OTHER)
    with pytest.raises(PolicyError, match="doesn't draw in this channel"):
        await s.admit(draw("a dog"))
    with pytest.raises(PolicyError, match=REFUSED_WORD):
        await s.admit(draw("a CAT"), other)

    downloads: list[Limits] = []

    async def load(limits: Limits) -> tuple[bytes, tuple[int, int]]:
        downloads.append(limits)
        return b"png", (512, 512)

    with pytest.raises(PolicyError, match="init images"):
        await s.admit(Ask(options=DrawOptions(prompt="a dog"), init_image=load), other)
    assert downloads == []  # refused before anything was downloaded
    nsfw = RequestContext(user_id=USER, guild_id=GUILD, channel_id=OTHER, is_nsfw_channel=True)
    job = await s.admit(Ask(options=DrawOptions(prompt="a dog"), init_image=load), nsfw)
    assert job.request.img2img and not job.request.spoiler and len(downloads) == 1


async def test_derived_jobs_pass_the_same_rules(store: Store) -> None:
    s = Setup(
        store, limits_config(cooldown_seconds=0.0, max_queued_per_user=10), SafetyConfig(negative_prefix="lowres")
    )
    await s.policy.set_text(GUILD, "nsfw", "spoiler", by=ADMIN)
    await s.policy.set_text(GUILD, "img2img", "nsfw_only", by=ADMIN)
    await s.policy.set_text(GUILD, "max_steps", "20", by=ADMIN)
    await s.policy.set_text(GUILD, "strip_words", "masterpiece", by=ADMIN)
    await s.policy.add_items(GUILD, "banned_words", ["cat"], by=ADMIN)

    stored = DrawRequest(prompt="masterpiece, a dog", steps=20)
    req = (await s.admit(Ask.derived(stored, "j:0", seed=-1))).request
    assert (req.prompt, req.negative_prompt, req.spoiler, req.source) == ("a dog", "lowres", True, "j:0")
    again = (await s.admit(Ask.derived(req, "k:0"))).request  # passing twice changes nothing
    assert (again.prompt, again.negative_prompt, again.spoiler) == (req.prompt, req.negative_prompt, req.spoiler)

    with pytest.raises(RequestError, match="steps must be between 1 and 20"):
        await s.admit(Ask.derived(DrawRequest(prompt="a dog", steps=25), "j:0"))
    with pytest.raises(PolicyError, match=REFUSED_WORD):  # e.g. "Draw this again" from someone's infotext
        await s.admit(Ask.derived(DrawRequest(prompt="a cat"), "j:0"))
    with pytest.raises(PolicyError, match="init images"):
        await s.admit(Ask.derived(DrawRequest(prompt="a dog", img2img=True, init_image=b"x"), "j:0"))
    with pytest.raises(RequestError, match="no longer kept"):
        Ask.derived(DrawRequest(prompt="a dog", img2img=True), "j:0")
    # upscaling a result: the size limits and the img2img rule don't apply
    up = DrawRequest(prompt="a dog", steps=20, width=2048, height=2048, upscale=True, img2img=True, init_image=b"x")
    assert (await s.admit(Ask(request=up))).request.spoiler
    with pytest.raises(PolicyError, match="Nothing is left"):
        await s.admit(Ask.derived(DrawRequest(prompt="masterpiece"), "j:0"))
    await s.policy.set_paused(GUILD, True, by=ADMIN)
    with pytest.raises(PolicyError, match=REFUSED_PAUSED):
        await s.admit(Ask.derived(req, "j:0"))


async def test_derived_jobs_get_the_servers_defaults(store: Store) -> None:
    """Draw this again used the global config: a server's defaults did not apply to it."""
    s = Setup(store, limits_config(cooldown_seconds=0.0))
    await s.policy.set_text(GUILD, "negative_prompt", "blurry", by=ADMIN)
    await s.policy.set_text(GUILD, "style", "Cinematic", by=ADMIN, catalog=Cat())
    # what "Draw this again" reads from an infotext without a negative prompt or a style
    job = await s.admit(Ask(options=DrawOptions(prompt="a lighthouse", steps=12, seed=5)))
    assert (job.request.negative_prompt, job.request.style, job.request.steps) == ("blurry", "Cinematic", 12)


async def test_concurrent_asks_cannot_pass_the_queue_limit_together(store: Store) -> None:
    s = Setup(store, limits_config(cooldown_seconds=0.0, max_queued_per_user=3))
    results = await asyncio.gather(*(s.admit(draw()) for _ in range(8)), return_exceptions=True)
    admitted = [r for r in results if isinstance(r, Job)]
    assert len(admitted) == 3
    assert all(isinstance(r, QueueFull) for r in results if not isinstance(r, Job))


async def test_concurrent_asks_cannot_pass_the_daily_quota_together(store: Store) -> None:
    s = Setup(store, limits_config(cooldown_seconds=0.0, max_queued_per_user=10))
    await s.policy.set_text(GUILD, "daily_quota", "2", by=ADMIN)
    results = await asyncio.gather(*(s.admit(draw()) for _ in range(6)), return_exceptions=True)
    assert sum(isinstance(r, Job) for r in results) == 2
    assert all("used your 2 drawings" in str(r) for r in results if not isinstance(r, Job))
    # another member is not held back by this one's asks
    await s.admit(draw(), RequestContext(user_id=USER + 1, guild_id=GUILD, channel_id=CHAN))


async def test_daily_quota_counts_this_guild(tmp_path: Path) -> None:
    class GuildStore(Store):
        async def count_user_jobs_since(self, user_id: int, since: float, guild_id: int | None = None) -> int:
            self.asked = guild_id
            return 5 if guild_id is None else 0

    s_store = await GuildStore.open(tmp_path / "g.db")
    try:
        s = Setup(s_store, limits_config())
        await s.policy.set_text(GUILD, "daily_quota", "2", by=ADMIN)
        await s.admit(draw())
        assert s_store.asked == GUILD
    finally:
        await s_store.close()


REMIX_TEXT = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["", " ", "\u200b\u200b", "a cat", "C A T", "<lora:x:1> cat", "x" * 1600, "a dog\nwith a cat"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=REMIX_TEXT, negative=REMIX_TEXT)
def test_remix_text_is_admitted_or_refused_in_one_line(tmp_path: Path, prompt: str, negative: str) -> None:
    """Whatever a member types in the Remix form, the answer is a queued job or one line saying why not."""

    async def remix() -> None:
        store = await Store.open(tmp_path / "remix.db")
        try:
            s = Setup(store, limits_config(cooldown_seconds=0.0, max_queued_per_user=1000))
            await s.policy.add_items(GUILD, "banned_words", ["cat"], by=ADMIN)
            await s.policy.set_text(GUILD, "extra_networks", "strip", by=ADMIN)
            stored = DrawRequest(prompt="a dog", steps=20)
            try:
                job = await s.admit(Ask.derived(stored, "j:0", prompt=prompt, negative_prompt=negative))
            except RequestError as exc:
                message = str(exc)
                assert message and "\n" not in message and len(message) <= 300, message
                return
            assert job.request.prompt.strip() and "cat" not in job.request.prompt.casefold()
            assert "<lora" not in job.request.prompt
        finally:
            await store.close()

    asyncio.run(remix())
