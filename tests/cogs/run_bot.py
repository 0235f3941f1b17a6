"""Start the real bot in a child process against the loopback Discord fake (used by the kill -9 and disk-full tests).

The only redirection is ``discord.http.Route.BASE``, from the environment variable EASEL_TEST_DISCORD_API.

EASEL_TEST_MAX_FILE_BYTES=n: the process may not grow any file past n bytes (``RLIMIT_FSIZE``, the soft limit
only, so the test can lift it with ``prlimit`` like an admin freeing space), and SIGXFSZ is ignored, so a write
past it fails with EFBIG the way a full disk fails with ENOSPC, instead of killing the process. Log to a pipe
then: pipes are not limited.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import discord

import bot

if __name__ == "__main__":
    discord.http.Route.BASE = os.environ["EASEL_TEST_DISCORD_API"]
    max_file_bytes = os.environ.get("EASEL_TEST_MAX_FILE_BYTES")
    if max_file_bytes:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(max_file_bytes), hard))
    sys.exit(bot.main(sys.argv[1:]))
