"""gunicorn settings shared by `make run` and docker-compose."""

import os

from prometheus_client import multiprocess

workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = 30
accesslog = None  # the app writes its own structured access log


def child_exit(server: object, worker: object) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
