# Easel in a container. Build: docker build -t easel .
# Run: see deploy/docker-compose.example.yml and docs/operations.md.
#
# /data is the state volume: put config.toml there (or bind-mount it) and set [storage] path = "/data/easel.db"
# in it, so the SQLite queue survives a new container. The token comes from the DISCORD_TOKEN variable.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A dedicated unprivileged user; only /data is writable by it.
RUN groupadd --system --gid 10001 easel \
    && useradd --system --uid 10001 --gid easel --home-dir /app --no-create-home --shell /usr/sbin/nologin easel \
    && mkdir -p /app /data \
    && chown easel:easel /data

WORKDIR /app

# Dependencies first: this layer is reused until requirements.txt changes. The image check ([safety] nsfw_check,
# NudeNet on onnxruntime, ~320 MB) is optional: docker build --build-arg WITH_NSFW_CHECK=1 -t easel .
ARG WITH_NSFW_CHECK=0
COPY requirements.txt requirements-nsfw.txt ./
RUN pip install -r requirements.txt \
    && if [ "$WITH_NSFW_CHECK" = "1" ]; then pip install -r requirements-nsfw.txt; fi

# The code stays owned by root: the bot cannot modify itself.
COPY bot.py config.example.toml ./
COPY easel ./easel
COPY cogs ./cogs

USER easel
VOLUME ["/data"]
# Only used when [metrics] enabled = true (with host = "0.0.0.0" so it is reachable from outside the container).
EXPOSE 9108
# On SIGTERM bot.py lets running jobs finish for [queue] shutdown_grace (default 30 s): give it
# `stop_grace_period: 45s` / `docker stop -t 45`.
STOPSIGNAL SIGTERM

CMD ["python", "bot.py", "--config", "/data/config.toml"]
