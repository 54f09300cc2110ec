"""gunicorn settings for the image (Dockerfile CMD, docker-compose web).

No access log: the portal writes its own request line (logger ``portal.request``, JSON in
production) with the request id, user, customer, status and duration, and without raw paths,
which can hold password-reset and invitation keys. Metrics from every worker are summed through
``PROMETHEUS_MULTIPROC_DIR`` (portal/metrics.py); a dead worker's live gauges are removed here.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
accesslog = None
graceful_timeout = 30
# SIGTERM from `docker compose up` while rolling: finish the requests in flight, then exit.
timeout = 60


def child_exit(server, worker):  # gunicorn's hook signature
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
