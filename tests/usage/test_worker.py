"""Ingest in a real Celery worker over Redis; the beat schedule names the usage tasks."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings

from accounts.roles import Role
from portal.celery import app as celery_app
from tests.celery_broker import broker, worker_redis_url
from tests.factories import CustomerFactory, MembershipFactory
from usage import services, tasks
from usage.models import Upload, UploadStatus, UsageEvent

REDIS_URL = worker_redis_url()
SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture
def redis_worker():
    redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    with broker(REDIS_URL), start_worker(celery_app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
        yield


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_ingests_an_upload(redis_worker) -> None:
    customer = CustomerFactory()
    asc = MembershipFactory(customer=customer, role=Role.ASC).user
    [upload] = services.usage_uploads_create(
        customer=customer,
        actor=asc,
        files=[("lmgrd.log", [(SAMPLES / "single_daemon_restart.log").read_bytes()])],
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        upload.refresh_from_db()
        if upload.status in (UploadStatus.DONE, UploadStatus.FAILED):
            break
        time.sleep(0.1)
    assert upload.status == UploadStatus.DONE
    assert upload.lines_done == upload.lines_total == 164
    assert UsageEvent.objects.filter(upload=upload).count() == upload.events_new > 0


def test_beat_runs_retention_and_the_upload_sweep() -> None:
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"usage.tasks.usage_retention_enforce", "usage.tasks.usage_uploads_sweep"} <= scheduled
    assert tasks.usage_retention_enforce.name == "usage.tasks.usage_retention_enforce"
    assert tasks.usage_uploads_sweep.name == "usage.tasks.usage_uploads_sweep"


@pytest.mark.django_db
def test_the_sweep_ingests_uploads_left_pending(monkeypatch) -> None:
    customer = CustomerFactory()
    asc = MembershipFactory(customer=customer, role=Role.ASC).user
    monkeypatch.setattr(tasks.usage_upload_ingest_task, "delay", lambda upload_id: None)  # broker down
    [upload] = services.usage_uploads_create(
        customer=customer,
        actor=asc,
        files=[("a.log", [(SAMPLES / "two_daemons_crlf_junk.log").read_bytes()])],
    )
    Upload.objects.filter(pk=upload.pk).update(created_at=upload.created_at - datetime.timedelta(minutes=5))
    assert tasks.usage_uploads_sweep() == 1
    upload.refresh_from_db()
    assert upload.status == UploadStatus.DONE
