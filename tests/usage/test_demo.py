"""seed_demo gives 1001234 a month of usage, once."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from usage.demo import DEMO_UPLOAD
from usage.models import Upload, UsageEvent, UsageHour

pytestmark = pytest.mark.django_db


def test_seed_demo_usage_is_idempotent() -> None:
    call_command("seed_demo", verbosity=0)
    events = UsageEvent.objects.count()
    assert events > 1000
    assert UsageHour.objects.filter(customer__number="1001234", feature="cfd_base").exists()  # unmatched feature
    call_command("seed_demo", verbosity=0)
    assert UsageEvent.objects.count() == events
    assert Upload.objects.filter(name=DEMO_UPLOAD).count() == 1
