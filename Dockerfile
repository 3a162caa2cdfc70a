# syntax=docker/dockerfile:1
# Sunlight image: `pip install .` of this repository; one image for `sunlight worker` and
# `sunlight dashboard` (see docker-compose.yml). No secret is baked in. The default configuration
# is inside the installed package; compose mounts an operator's folder at /app/config and points
# SUNLIGHT_CONFIG at it. SUNLIGHT_* environment variables override single settings.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The packed track's coder is compiled (detectors/_trackcode.pyx): a C compiler here, in the
# build stage only; the image that runs gets the built venv and no compiler.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The build context is filtered by .dockerignore (no .git, .venv, tests, .env, built objects).
COPY . .
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --upgrade pip \
 && /opt/venv/bin/pip install .

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="sunlight" \
      org.opencontainers.image.description="Sunlight real-time supervision engine" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SUNLIGHT_METRICS_HOST=0.0.0.0 \
    SUNLIGHT_METRICS_PORT=9101 \
    SUNLIGHT_DASHBOARD_HOST=0.0.0.0 \
    SUNLIGHT_DASHBOARD_PORT=8080
RUN groupadd --system --gid 10001 sunlight \
 && useradd --system --uid 10001 --gid sunlight --home-dir /app --shell /usr/sbin/nologin sunlight \
 && mkdir -p /app/data \
 && chown -R sunlight:sunlight /app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER sunlight
# In a container both listen on all its interfaces (only published ports reach them):
# 9101: a worker's /metrics; 8080: the dashboard. Faust keeps local table data under /app.
EXPOSE 9101 8080
CMD ["sunlight", "worker"]
