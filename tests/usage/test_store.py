"""The store: idempotent ingest, rollups that agree with the samples, split uploads, deletion."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import TestCase
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import AuditEvent, Customer, User
from accounts.roles import Role
from portal.errors import AccessDenied, PortalError
from usage import services
from usage.models import Upload, UploadStatus, UsageEvent, UsageHour, UsagePersonDay
from usage.parsers import log_figures
from usage.selectors import usage_totals

SAMPLES = Path(__file__).parent / "samples"
pytestmark = pytest.mark.django_db


@pytest.fixture
def asc(customer: Customer, member_factory: Callable) -> User:
    return member_factory(role=Role.ASC, customer=customer).user


def upload(customer: Customer, actor: User, data: bytes, name: str = "lmgrd.log", server: str = "") -> Upload:
    with TestCase.captureOnCommitCallbacks(execute=True):
        [created] = services.usage_uploads_create(
            customer=customer, actor=actor, files=[(name, [data])], server_name=server
        )
    created.refresh_from_db()
    return created


def figures(customer: Customer) -> dict:
    """Everything the page can show, from the rollups."""
    hours = sorted(
        UsageHour.objects.filter(customer=customer).values_list(
            "server_name",
            "daemon",
            "feature",
            "hour",
            "peak",
            "license_seconds",
            "checkouts",
            "denials",
            "true_denials",
            "queued",
            "queue_wait_seconds",
            "unsupported",
        )
    )
    persons = sorted(
        UsagePersonDay.objects.filter(customer=customer).values_list(
            "server_name", "daemon", "feature", "day", "kind", "name", "license_seconds", "checkouts", "denials"
        )
    )
    return {"hours": hours, "persons": persons, "events": UsageEvent.objects.filter(customer=customer).count()}


@pytest.mark.parametrize("name", ["single_daemon_restart", "two_daemons_crlf_junk"])
def test_stored_rollups_agree_with_the_samples(customer: Customer, asc: User, name: str) -> None:
    expected = json.loads((SAMPLES / f"{name}.expected.json").read_text())
    done = upload(customer, asc, (SAMPLES / f"{name}.log").read_bytes())
    assert done.status == UploadStatus.DONE
    assert done.lines_done == expected["physical_lines"]
    assert done.events_new == sum(expected["events"].values()) + 1 + (name == "single_daemon_restart")  # restarts
    for key, feature in expected["features"].items():
        daemon, name_ = key.split("/")
        rows = UsageHour.objects.filter(customer=customer, daemon=daemon, feature=name_)
        assert sum(r.license_seconds for r in rows) / 3600 == pytest.approx(feature["license_hours"], abs=0.005)
        assert max((r.peak for r in rows), default=0) == feature["peak"]
        assert sum(r.checkouts for r in rows) == feature["checkout"]
        assert sum(r.denials for r in rows) == feature["denied"]
        assert sum(r.true_denials for r in rows) == feature["true_denials"]
        assert sum(r.queued for r in rows) == feature["queued"]
        assert sum(r.unsupported for r in rows) == feature["unsupported"]
        daily: dict[str, int] = {}
        for r in rows:
            day = r.hour.date().isoformat()
            daily[day] = max(daily.get(day, 0), r.peak)
        assert {d: p for d, p in daily.items() if p} == {d: p for d, p in feature["daily_peak"].items() if p}
    # The log's own host names the server.
    assert set(UsageEvent.objects.values_list("server_name", flat=True)) == {"lic01"}


def test_uploading_the_same_or_an_overlapping_log_never_counts_twice(customer: Customer, asc: User) -> None:
    data = (SAMPLES / "single_daemon_restart.log").read_bytes()
    upload(customer, asc, data)
    once = figures(customer)
    again = upload(customer, asc, data)
    assert again.events_read > 0
    assert again.events_new == 0
    lines = data.splitlines(keepends=True)
    overlap = b"".join(lines[:2] + lines[60:120])  # the started-on line dates it
    upload(customer, asc, overlap)
    assert figures(customer) == once


def _timestamp_lines(lines: list[bytes]) -> list[int]:
    return [i for i, line in enumerate(lines) if b"TIMESTAMP" in line]


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_log_split_at_timestamp_lines_in_any_order_gives_the_same_figures(
    data: st.DataObject, customer: Customer, asc: User
) -> None:
    name = data.draw(st.sampled_from(["single_daemon_restart", "two_daemons_crlf_junk"]))
    lines = (SAMPLES / f"{name}.log").read_bytes().splitlines(keepends=True)
    UsageEvent.objects.all().delete()
    UsageHour.objects.all().delete()
    UsagePersonDay.objects.all().delete()
    upload(customer, asc, b"".join(lines), server="lic01")
    whole = figures(customer)
    UsageEvent.objects.all().delete()
    UsageHour.objects.all().delete()
    UsagePersonDay.objects.all().delete()
    cuts = sorted(data.draw(st.sets(st.sampled_from(_timestamp_lines(lines)), max_size=6)))
    pieces = [b"".join(lines[a:b]) for a, b in zip([0, *cuts], [*cuts, len(lines)], strict=True)]
    order = data.draw(st.permutations(range(len(pieces))))
    for index in order:
        upload(customer, asc, pieces[index], server="lic01")
    assert figures(customer) == whole


def test_split_fixed_example(customer: Customer, asc: User) -> None:
    """One split of the property above, always run (the property is marked slow)."""
    lines = (SAMPLES / "single_daemon_restart.log").read_bytes().splitlines(keepends=True)
    upload(customer, asc, b"".join(lines), server="lic01")
    whole = figures(customer)
    UsageEvent.objects.all().delete()
    cuts = _timestamp_lines(lines)
    cuts = sorted(random.Random(4).sample(cuts, 4))
    pieces = [b"".join(lines[a:b]) for a, b in zip([0, *cuts], [*cuts, len(lines)], strict=True)]
    for piece in reversed(pieces):
        upload(customer, asc, piece, server="lic01")
    assert figures(customer) == whole


def test_deleting_an_upload_deletes_everything_derived_from_it(customer: Customer, asc: User) -> None:
    first = upload(customer, asc, (SAMPLES / "single_daemon_restart.log").read_bytes())
    second = upload(customer, asc, (SAMPLES / "two_daemons_crlf_junk.log").read_bytes(), server="lic02")
    services.usage_upload_delete(customer=customer, actor=asc, upload=first)
    assert not UsageEvent.objects.filter(upload_id=first.pk).exists()
    assert set(UsageHour.objects.values_list("server_name", flat=True)) == {"lic02"}
    assert AuditEvent.objects.filter(action="usage.upload_deleted").exists()
    services.usage_upload_delete(customer=customer, actor=asc, upload=second)
    assert figures(customer) == {"hours": [], "persons": [], "events": 0}


def test_a_viewer_cannot_upload(customer: Customer, member_factory: Callable) -> None:
    viewer = member_factory(role=Role.VIEWER, customer=customer).user
    with pytest.raises(AccessDenied):
        upload(customer, viewer, b"x")
    assert AuditEvent.objects.filter(action="usage.upload", denied=True).exists()


def test_pseudonymised_user_names(customer: Customer, asc: User) -> None:
    services.usage_settings_update(customer=customer, actor=asc, retention_months=13, pseudonymise_users=True)
    upload(customer, asc, (SAMPLES / "two_daemons_crlf_junk.log").read_bytes())
    users = set(UsageEvent.objects.exclude(user="").values_list("user", flat=True))
    assert users
    assert all(u.startswith("u-") for u in users)
    assert not UsagePersonDay.objects.filter(kind="user", name="hale").exists()


def test_retention_deletes_old_raw_events_and_keeps_rollups(customer: Customer, asc: User) -> None:
    import datetime

    upload(customer, asc, (SAMPLES / "two_daemons_crlf_junk.log").read_bytes())
    before = usage_totals(customer=customer)
    deleted = services.usage_retention_enforce(now=datetime.datetime(2028, 1, 1, tzinfo=datetime.UTC))
    assert deleted > 0
    assert not UsageEvent.objects.exists()
    assert usage_totals(customer=customer) == before


def test_a_corrupt_gzip_upload_fails_cleanly(customer: Customer, asc: User) -> None:
    import gzip

    data = gzip.compress((SAMPLES / "two_daemons_crlf_junk.log").read_bytes())
    done = upload(customer, asc, data[: len(data) // 2], name="x.log.gz")
    assert done.status == UploadStatus.FAILED
    assert done.error


def test_log_figures_unchanged_by_the_store(customer: Customer, asc: User) -> None:
    # The pure reading is the reference; the store must not mutate shared parser state.
    data = (SAMPLES / "single_daemon_restart.log").read_bytes()
    expected = json.loads((SAMPLES / "single_daemon_restart.expected.json").read_text())
    upload(customer, asc, data)
    assert log_figures(data.splitlines(keepends=True)) == expected


# --- incremental rollups: going on from a checkpoint gives what a replay of everything gives


class _Rollback(Exception):
    pass


def full_rebuild_figures(customer: Customer) -> dict:
    """The figures a replay of every stored event gives (no checkpoint), left undone after."""
    from django.db import transaction

    from usage.models import UsageCheckpoint

    result: dict = {}
    try:
        with transaction.atomic():
            UsageCheckpoint.objects.all().delete()
            for server in set(UsageEvent.objects.values_list("server_name", flat=True)):
                services.usage_rollups_rebuild(customer=customer, server_name=server)
            result.update(figures(customer))
            raise _Rollback
    except _Rollback:
        return result


def _week_of_log() -> list[bytes]:
    import datetime

    from usage.generate import FeatureLoad, generate_log

    loads = [
        FeatureLoad("ansys", capacity=3, sessions_per_day=8, mean_hours=4),
        FeatureLoad("cfd", capacity=2, sessions_per_day=5, mean_hours=9, max_count=2),
    ]
    lines = generate_log(start=datetime.date(2026, 3, 2), days=8, loads=loads, users=6, host="lic01", seed=3)
    return [line.encode() for line in lines]


def test_a_later_push_replays_from_the_last_checkpoint_only(customer: Customer, asc: User) -> None:
    import datetime

    from usage.models import UsageCheckpoint

    lines = _week_of_log()
    cut = next(i for i, line in enumerate(lines) if line.startswith(b" 0:00:30") and b"TIMESTAMP 3/9/2026" in line)
    upload(customer, asc, b"".join(lines[:cut]), server="lic01")
    assert UsageCheckpoint.objects.filter(server_name="lic01").exists()
    upload(customer, asc, b"".join(lines[cut:]), server="lic01")
    assert figures(customer) == full_rebuild_figures(customer)
    total = UsageEvent.objects.count()
    replayed = services.usage_rollups_rebuild(
        customer=customer, server_name="lic01", changed_from=datetime.datetime(2026, 3, 9, 12, tzinfo=datetime.UTC)
    )
    assert 0 < replayed < total / 4  # the last day and a half, not the week
    assert figures(customer) == full_rebuild_figures(customer)


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_incremental_rollups_equal_a_full_rebuild_after_every_upload_and_delete(
    data: st.DataObject, customer: Customer, asc: User
) -> None:
    """Pieces of a week's log cut at TIMESTAMP lines, uploaded in any order (so some land before
    the checkpoints taken so far: the replay starts earlier), then one upload deleted."""
    from usage.models import UsageCheckpoint

    Upload.objects.all().delete()
    UsageHour.objects.all().delete()
    UsagePersonDay.objects.all().delete()
    UsageCheckpoint.objects.all().delete()
    lines = _week_of_log()
    cuts = sorted(data.draw(st.sets(st.sampled_from(_timestamp_lines(lines)), min_size=1, max_size=5)))
    pieces = [b"".join(lines[a:b]) for a, b in zip([0, *cuts], [*cuts, len(lines)], strict=True)]
    done = []
    for index in data.draw(st.permutations(range(len(pieces)))):
        done.append(upload(customer, asc, pieces[index], server="lic01"))
        assert figures(customer) == full_rebuild_figures(customer)
    services.usage_upload_delete(customer=customer, actor=asc, upload=data.draw(st.sampled_from(done)))
    assert figures(customer) == full_rebuild_figures(customer)


def test_the_bulk_load_stores_what_an_upload_of_the_same_log_gives(customer: Customer, asc: User) -> None:
    from usage.bench import blocks_of

    lines = [line.decode() for line in _week_of_log()]
    upload(customer, asc, "".join(lines).encode(), server="uploaded")
    loaded = services.usage_log_bulk_load(
        customer=customer, name="bulk", lines=blocks_of(lines, 50), server_name="bulk"
    )
    assert loaded.status == UploadStatus.DONE
    assert loaded.events_new == UsageEvent.objects.filter(server_name="uploaded").count() > 0
    by_server = figures(customer)
    for kind in ("hours", "persons"):
        rows = {
            server: sorted(row[1:] for row in by_server[kind] if row[0] == server) for server in ("uploaded", "bulk")
        }
        assert rows["bulk"] == rows["uploaded"]
    with pytest.raises(PortalError):
        services.usage_log_bulk_load(customer=customer, name="again", lines=blocks_of(lines), server_name="bulk")
