"""The portal's license signing key, loaded once per process."""

from __future__ import annotations

import functools
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from .licensefile import private_key_load_or_create, public_key_pem


@functools.cache
def _key_at(path: str) -> Ed25519PrivateKey:
    return private_key_load_or_create(Path(path))


def signing_key() -> Ed25519PrivateKey:
    """The Ed25519 key at ``settings.LICENSE_SIGNING_KEY_FILE`` (created on first use)."""
    return _key_at(str(settings.LICENSE_SIGNING_KEY_FILE))


def verifying_key() -> Ed25519PublicKey:
    return signing_key().public_key()


def verifying_key_pem() -> str:
    return public_key_pem(signing_key())
