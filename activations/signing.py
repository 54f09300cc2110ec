"""The portal's license signing key, loaded once per process, and remembered signatures."""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.cache import cache

from .licensefile import load_private_key, private_key_load_or_create, public_key_from_pem, public_key_pem

logger = logging.getLogger(__name__)

# A license line signs the date it was issued, so a signature is reused for about a day.
SIGNATURE_CACHE_SECONDS = 2 * 24 * 3600


@functools.cache
def _key_at(path: str) -> Ed25519PrivateKey:
    return private_key_load_or_create(Path(path))


def signing_key() -> Ed25519PrivateKey:
    """The Ed25519 key at ``settings.LICENSE_SIGNING_KEY_FILE`` (created on first use)."""
    return _key_at(str(settings.LICENSE_SIGNING_KEY_FILE))


class VerifyingKeyUnavailable(Exception):
    """Neither a public key nor the private signing key can be read; nothing is created."""


@functools.cache
def _public_key_at(path: str) -> Ed25519PublicKey:
    return public_key_from_pem(Path(path).read_bytes())


@functools.cache
def _existing_key_at(path: str) -> Ed25519PrivateKey:
    return load_private_key(Path(path))


def verifying_key() -> Ed25519PublicKey:
    """The key that checks license signatures. Never creates a key.

    ``settings.LICENSE_PUBLIC_KEY_FILE`` (PEM) when set, e.g. on a machine that only verifies;
    otherwise the public half of the existing ``LICENSE_SIGNING_KEY_FILE``. Raises
    ``VerifyingKeyUnavailable`` (with the path and the reason) when neither can be read.
    """
    public_path = getattr(settings, "LICENSE_PUBLIC_KEY_FILE", None)
    try:
        if public_path:
            return _public_key_at(str(public_path))
        return _existing_key_at(str(settings.LICENSE_SIGNING_KEY_FILE)).public_key()
    except FileNotFoundError as error:
        raise VerifyingKeyUnavailable(
            f"no license key at {error.filename}: set LICENSE_PUBLIC_KEY_FILE to the portal's public key "
            "(/license-public-key.pem) or LICENSE_SIGNING_KEY_FILE to its signing key"
        ) from None
    except (OSError, ValueError) as error:
        path = public_path or settings.LICENSE_SIGNING_KEY_FILE
        raise VerifyingKeyUnavailable(f"cannot read the license key at {path}: {error}") from None


def verifying_key_pem() -> str:
    """The published public key: the configured public key file, else the signing key's half
    (the portal creates its signing key on first use, as when it issues a file)."""
    if getattr(settings, "LICENSE_PUBLIC_KEY_FILE", None):
        return verifying_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")
    return public_key_pem(signing_key())


@functools.cache
def _key_id(key: Ed25519PrivateKey) -> str:
    return hashlib.sha256(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


def signatures_for(messages: Sequence[bytes]) -> list[bytes]:
    """The Ed25519 signatures of ``messages`` with the signing key.

    Ed25519 is deterministic: the same key and message always give the same signature, so
    a file rendered again reuses the signatures made then, from the shared cache. (Since every
    line signs its file's version and position, SN=, a new version re-signs all its lines.)
    Signing is most of a file's render time (docs/performance.md).
    Signatures are public (they are in every license file); a wrong value in the cache could
    only make a line fail verification, never make a forged line verify.
    """
    key = signing_key()
    prefix = f"licsig:{_key_id(key)}:"
    keys = [prefix + hashlib.sha256(message).hexdigest() for message in messages]
    known = {k: _recent[k] for k in keys if k in _recent}
    wanted = [k for k in keys if k not in known]
    if wanted:
        try:
            known.update(cache.get_many(wanted))
        except Exception:  # the cache is optional
            logger.warning("signature cache unavailable", exc_info=True)
    signatures, new = [], {}
    for cache_key, message in zip(keys, messages, strict=True):
        signature = known.get(cache_key)
        if not isinstance(signature, bytes) or len(signature) != _SIGNATURE_BYTES:
            signature = new[cache_key] = key.sign(message)
        signatures.append(signature)
        _remember(cache_key, signature)
    if new:
        try:
            cache.set_many(new, SIGNATURE_CACHE_SECONDS)
        except Exception:
            logger.warning("signature cache unavailable, not storing", exc_info=True)
    return signatures


# The signatures this process made or read last, in front of the shared cache: a worker that
# issued a server's previous file has its lines at hand. Bounded (about 12 MB at most).
_SIGNATURE_BYTES = 64
_RECENT_MAX = 50_000
_recent: OrderedDict[str, bytes] = OrderedDict()


_recent_lock = threading.Lock()


def _remember(cache_key: str, signature: bytes) -> None:
    with _recent_lock:
        _recent[cache_key] = signature
        _recent.move_to_end(cache_key)
        if len(_recent) > _RECENT_MAX:
            _recent.popitem(last=False)
