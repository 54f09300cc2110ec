"""Remembered signatures (activations/signing.py): same bytes as signing afresh, reused from
the shared cache, and a bad cache entry can only break a line, never forge one."""

from __future__ import annotations

import hashlib

import pytest
from django.core.cache import cache

from activations import signing
from activations.licensefile import license_verify
from activations.services import license_file_render
from activations.signing import signatures_for, signing_key, verifying_key
from tests.activations.helpers import activate, flex_customer, setup_server
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

MESSAGES = [f"line {i}".encode() for i in range(20)]


@pytest.fixture(autouse=True)
def _forget_signatures() -> None:
    signing._recent.clear()


def _cache_key(message: bytes) -> str:
    return f"licsig:{signing._key_id(signing_key())}:{hashlib.sha256(message).hexdigest()}"


def test_remembered_signatures_are_the_signatures() -> None:
    fresh = [signing_key().sign(m) for m in MESSAGES]
    assert signatures_for(MESSAGES) == fresh  # cold: signed and stored
    assert all(cache.get(_cache_key(m)) == s for m, s in zip(MESSAGES, fresh, strict=True))
    assert signatures_for(MESSAGES) == fresh  # from this process
    signing._recent.clear()
    assert signatures_for(MESSAGES) == fresh  # from the shared cache


def test_the_shared_cache_is_used_and_a_wrong_entry_cannot_forge_a_line() -> None:
    customer = flex_customer()
    server, line = setup_server(customer, quantity=5)
    activate(server, UserFactory(is_staff=True), {line.pk: 2})
    text = license_file_render(server=server, version=9)
    assert license_verify(text, public_key=verifying_key()).valid

    # Poison every remembered signature of this file with 64 other bytes, as an attacker with
    # write access to Redis could: the file carries them, and verification refuses them.
    for key in list(signing._recent):
        cache.set(key, b"\x00" * 64)
    signing._recent.clear()
    poisoned = license_file_render(server=server, version=9)
    assert 'SIGN="0000 0000' in poisoned  # proves the shared cache was read
    assert not license_verify(poisoned, public_key=verifying_key()).valid

    # Malformed entries (wrong type or length) are ignored and the line is signed afresh.
    for key in list(signing._recent):
        cache.set(key, b"short")
    signing._recent.clear()
    assert license_verify(license_file_render(server=server, version=9), public_key=verifying_key()).valid
