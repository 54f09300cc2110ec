"""Fixtures of the cockpit's tests: staff accounts holding a staff role (or none)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts.models import User
from accounts.roles import StaffRole
from tests.factories import UserFactory


def staff_account(role: StaffRole | None, **fields: object) -> User:
    """An active ``is_staff`` account in the support group of ``role`` (no group for None)."""
    user = UserFactory(is_staff=True, **fields)
    if role is not None:
        user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    return user


@pytest.fixture
def staff_client(db: None) -> Callable[..., Client]:
    """``staff_client(StaffRole.AGENT)`` -> a logged-in Client; ``client.user`` attached."""

    def make(role: StaffRole | None = StaffRole.AGENT, **fields: object) -> Client:
        user = staff_account(role, **fields)
        client = Client()
        client.force_login(user)
        client.user = user  # type: ignore[attr-defined]
        return client

    return make
