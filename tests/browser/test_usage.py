"""The Usage page in a real browser (issue 15): every role reads it on the demo data; an
ASC uploads two logs at once and watches the progress bar fill without reloading."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from playwright.sync_api import Page, expect

from usage import services
from usage.models import Upload, UploadStatus

pytestmark = pytest.mark.browser

PASSWORD = "portal-demo-2026"
BASE = "/c/1001234/usage/"
SAMPLES = Path(__file__).resolve().parents[1] / "usage" / "samples"
USERS = {"asc": "asc@demo.example", "administrator": "admin@demo.example", "viewer": "viewer@demo.example"}


@pytest.fixture
def demo(transactional_db: None) -> None:
    call_command("seed_demo", verbosity=0)
    mail.outbox.clear()


@pytest.mark.parametrize("role", list(USERS))
def test_every_role_reads_the_usage_page(page: Page, demo: None, login, axe_check, screenshot, role: str) -> None:
    login(page, USERS[role], PASSWORD)
    page.goto(BASE)
    expect(page.get_by_role("heading", name="Usage", exact=True)).to_be_visible()
    expect(page.locator("#usage-features")).to_contain_text("anshpc_pack")
    expect(page.locator("#unmatched")).to_be_visible()  # cfd_base is on no entitlement line
    expect(page.locator("svg polyline.chart__line").first).to_be_visible()
    page.get_by_text("Hour of day and weekday as a table").click()  # the table fallback opens
    changer = role != "viewer"
    expect(page.locator("#upload-logs")).to_have_count(1 if changer else 0)
    expect(page.locator("#agent")).to_have_count(1 if changer else 0)
    # The entitlements page quotes the recommendation beside each line.
    axe_check(page)
    screenshot(page, f"usage-{role}.png")
    page.goto("/c/1001234/entitlements/")
    expect(page.get_by_text("95th percentile").first).to_be_visible()


def test_upload_several_logs_and_watch_the_progress(page: Page, demo: None, login, monkeypatch) -> None:
    # The upload is queued but not read until the test says so: the page must show it waiting,
    # then follow its progress by itself (static/js/usage.js polls status.json).
    from usage import tasks

    monkeypatch.setattr(tasks.usage_upload_ingest_task, "delay", lambda upload_id: None)
    login(page, USERS["asc"], PASSWORD)
    page.goto(BASE)
    page.locator("#upload-logs input[type=file]").set_input_files(
        [
            str(SAMPLES / "single_daemon_restart.log"),
            str(SAMPLES / "two_daemons_crlf_junk.log"),
        ]
    )
    page.locator("#upload-logs button[type=submit]").click()
    expect(page.get_by_text("2 file(s) received")).to_be_visible()
    rows = page.locator("#usage-uploads tr[data-upload-status=pending]")
    expect(rows).to_have_count(2)
    for upload in Upload.objects.filter(status=UploadStatus.PENDING):
        services.usage_upload_ingest(upload_id=upload.pk)
    done = page.locator("#usage-uploads tr[data-upload-status=done]")
    expect(done).to_have_count(3, timeout=15_000)  # the two, and the demo's own upload
    row = page.locator("#usage-uploads tr", has_text="single_daemon_restart.log")
    expect(row.locator("progress")).to_have_attribute("value", "100")
    expect(row.locator(".upload-lines")).to_have_text("164 / 164")
