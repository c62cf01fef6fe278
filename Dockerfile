# syntax=docker/dockerfile:1
# One image for every Django project of the food-ordering backend (auth, catalog, orders, payments,
# gateway) and every process of the Procfile. It has no default command: compose.yml (or a Kubernetes
# Deployment) picks the process, e.g. `bin/serve catalog 4002`, `bin/worker orders notifications`,
# `bin/beat payments` or `bin/flower`, and sets its configuration through environment variables.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    BIND_HOST=0.0.0.0

WORKDIR /app

# The pinned third-party requirements first, so that a code change does not reinstall them.
COPY requirements/base.txt requirements/base.txt
RUN pip install -r requirements/base.txt

# The shared package (food_common), installed like any other dependency (not editable).
COPY common/ common/
RUN pip install --no-deps ./common

COPY . .

# Each project's static files (Django admin, DRF; the gateway's Swagger UI for /docs) go to its
# default STATIC_ROOT, /app/var/static/<project>, where WhiteNoise serves them at run time. DEBUG=0
# and the dummy SECRET_KEY and EVENT_SIGNING_KEY (the projects with events refuse to load their
# settings without one) exist for this build step only: they are not in the image's environment.
# hadolint ignore=DL3003
RUN set -eu; \
    for project in auth catalog orders payments delivery gateway; do \
      (cd "${project}_project" && \
        DEBUG=0 SECRET_KEY=build-only-dummy-secret-key EVENT_SIGNING_KEY=build-only-dummy-event-key \
          python manage.py collectstatic --noinput -v0); \
    done \
    && test -d /app/var/static/gateway/admin \
    && test -f /app/var/static/gateway/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js

# Run as an unprivileged user, named by number so that Kubernetes' runAsNonRoot can verify it. The
# code stays owned by root (read-only for the app); var/ is the app's, for what a process writes.
# var/beat is created here so that a named volume mounted on it (compose.yml: each beat's
# BEAT_STATE_DIR) starts owned by the app user, not by root.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin app \
    && mkdir -p /app/var/beat \
    && chown -R app:app /app/var
USER 10001:10001
