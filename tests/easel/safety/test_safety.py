"""AdminNotice: the one line a server's admins get names who, where, which job and which rule, and nothing else."""

from __future__ import annotations

import pytest

from easel.safety import AdminNotice, NoticeKind, NullNotifier


def test_lines() -> None:
    refused = AdminNotice(NoticeKind.PROMPT_REFUSED, "minors_sexual", 7, 200)
    assert refused.line() == "Safety: refused a prompt from <@7> in <#200> (nothing was queued): rule `minors_sexual`."
    flagged = AdminNotice(NoticeKind.IMAGE_FLAGGED, "nsfw_image", 7, 200, job_id="abc123")
    assert (
        flagged.line()
        == "Safety: the image check flagged an image of job `abc123` from <@7> in <#200>: rule `nsfw_image`."
    )
    assert "in a DM" in AdminNotice(NoticeKind.PROMPT_REFUSED, "minors_sexual", 7, None).line()
    for notice in (refused, flagged):
        assert "\n" not in notice.line() and "@everyone" not in notice.line()


@pytest.mark.parametrize("rule", ["", "Has Space", "a`b", "x" * 41, "@everyone"])
def test_a_rule_name_is_a_short_identifier(rule: str) -> None:
    with pytest.raises(ValueError):
        AdminNotice(NoticeKind.PROMPT_REFUSED, rule, 7, 200)


def test_a_job_id_cannot_carry_markup() -> None:
    with pytest.raises(ValueError):
        AdminNotice(NoticeKind.IMAGE_FLAGGED, "nsfw_image", 7, 200, job_id="`x` <@1>")


async def test_the_null_notifier_tells_no_one() -> None:
    assert await NullNotifier().notify(1, AdminNotice(NoticeKind.PROMPT_REFUSED, "minors_sexual", 7, 200)) is None
