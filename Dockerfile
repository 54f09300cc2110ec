# The debug-log scanner (usage/_flexscan.c) is compiled in a stage of its own, so the image
# carries no compiler.
FROM python:3.11-slim-bookworm AS scanner
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY setup.py pyproject.toml ./
COPY usage/_flexscan.c usage/
RUN pip install --no-cache-dir "setuptools>=65" && python setup.py --quiet build_ext --inplace

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=portal.settings.production \
    PORTAL_VAR_DIR=/var/lib/portal \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus

WORKDIR /app
COPY requirements/ requirements/
# The hashed lock (`make lock`): exactly the tested versions, every download checked.
RUN pip install --no-cache-dir --require-hashes -r requirements/lock-base.txt

COPY . .
COPY --from=scanner /build/usage/_flexscan.*.so usage/
# collectstatic needs importable settings, not real secrets. Translations (.mo) are committed.
RUN DJANGO_SECRET_KEY=build DJANGO_ALLOWED_HOSTS=build python manage.py collectstatic --noinput
RUN useradd --system --home /app portal && mkdir -p /var/lib/portal && chown portal /var/lib/portal
USER portal

EXPOSE 8000
# The metrics directory is emptied at every start (prometheus_client's multiprocess mode).
CMD ["sh", "-c", "rm -rf \"$PROMETHEUS_MULTIPROC_DIR\" && mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && exec gunicorn portal.wsgi:application -c ops/gunicorn.conf.py"]
