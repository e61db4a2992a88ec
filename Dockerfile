# leadqual production image: gunicorn (web), celery worker and celery beat all run from it.
# Build: docker compose build (see docker-compose.yml). Configuration comes only from the environment.

# Browser libraries (Chart.js for the analytics page) from the pinned package-lock.json; only their
# dist files reach the image, where collectstatic picks them up (leadqual/settings.py, STATICFILES_DIRS).
FROM node:22-slim AS browser-libs
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=leadqual.settings

# The processes run as this unprivileged user; the code stays owned by root (read-only to it).
RUN groupadd --system --gid 10001 leadqual \
    && useradd --system --uid 10001 --gid leadqual --create-home --home-dir /home/leadqual \
       --shell /usr/sbin/nologin leadqual

WORKDIR /app

# Dependencies first, so code changes do not reinstall them (every wheel is binary: no compiler needed).
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
COPY --from=browser-libs /build/node_modules/chart.js/dist node_modules/chart.js/dist

# Static files are collected into the image (served by WhiteNoise) with production storage
# (DEBUG=False selects the hashed manifest storage). The SECRET_KEY, hosts and database here
# exist only for this build step and are never part of the running container's environment.
RUN mkdir -p static var \
    && DEBUG=False \
       SECRET_KEY=build-only-collectstatic-key-not-used-at-runtime-0123456789abcdef \
       ALLOWED_HOSTS=build.invalid \
       DATABASE_URL=sqlite:////tmp/build.sqlite3 \
       python manage.py collectstatic --noinput \
    && rm -f /tmp/build.sqlite3 \
    && chown -R leadqual:leadqual var

USER leadqual

EXPOSE 8000

# Workers: gunicorn reads WEB_CONCURRENCY; more flags through GUNICORN_CMD_ARGS.
CMD ["gunicorn", "leadqual.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "--error-logfile", "-"]
