"""The text users read, by area: every answer, status line and embed text the bot sends is composed here.

- :mod:`easel.texts.markup`: Discord markup helpers (escaping, shortening, code blocks, fitting a message into
  Discord's 2000 characters, relative timestamps, durations);
- :mod:`easel.texts.results`: a job's life as its requester sees it (queued, drawing, progress, done, failed,
  cancelled), the result summary beside the images, the Info sections and the reproducing ``/draw`` line;
- :mod:`easel.texts.commands`: ``/help``, ``/models``, ``/status``, ``/queue`` and ``/cancel``;
- :mod:`easel.texts.settings`: ``/settings`` and ``/mod`` answers (server admins and moderators);
- :mod:`easel.texts.tools`: the image tools (``/upscale``, ``/describe``, zoom out and pan).

Pure functions over plain values and frozen dataclasses: no Discord import, no I/O, no clock except where a
function says so. The cogs fetch the values and send what these functions return, so a translation layer (message
catalogs, a locale per member) has one place to sit: here.
"""
