"""Every log record of the whole test run, written to ``test-artifacts/test-run-log.jsonl``, and a
check at the end of the run that fails it when a secret appears in any of them.

Secrets looked for: the demo and factory passwords, the SECRET_KEY, every Elastic PIN and every
session key the run created (recorded as they are saved), API tokens (``lpat_...``) and webhook
secrets (``whsec_...``), bearer tokens, and the ``sessionid=`` cookie. Hooked from ``tests/conftest.py``.
Records of subprocesses (a Celery worker started by a drill) are not in this file: those tests
check their own output.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARTIFACT = ROOT / "test-artifacts" / "test-run-log.jsonl"

PATTERNS: dict[str, re.Pattern[str]] = {
    "personal access token": re.compile(r"lpat_[A-Za-z0-9_-]{8,}"),
    "webhook secret": re.compile(r"whsec_[A-Za-z0-9_-]{8,}"),
    "session cookie": re.compile(r"sessionid=[a-z0-9]{16,}"),
    "bearer token": re.compile(r"Bearer\s+[A-Za-z0-9._~+/=-]{12,}"),
}
# Never secrets worth a finding on their own (e.g. the empty string).
_MIN_SECRET = 6


@dataclass
class SecretRegistry:
    literals: dict[str, str] = field(default_factory=dict)  # value -> what it is

    def add(self, value: object, kind: str) -> None:
        if isinstance(value, str) and len(value) >= _MIN_SECRET:
            self.literals.setdefault(value, kind)


SECRETS = SecretRegistry()


class CaptureHandler(logging.Handler):
    """One JSON object a line, every record at every level that reaches the root logger."""

    def __init__(self, path: Path) -> None:
        super().__init__(level=logging.NOTSET)
        # The production formatter: the file holds what production would write.
        from portal.requestlog import ContextFilter, JsonFormatter

        path.parent.mkdir(parents=True, exist_ok=True)
        self.stream = path.open("w", encoding="utf-8")
        self.addFilter(ContextFilter())
        self.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + "\n")
            self.stream.flush()
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self.stream.close()
        super().close()


def findings(lines: Iterable[str], secrets: SecretRegistry) -> list[str]:
    """``line number: what`` for every line holding a known secret or a secret-shaped token."""
    found = []
    for number, line in enumerate(lines, 1):
        for value, kind in secrets.literals.items():
            if value in line:
                found.append(f"{number}: {kind}")
        for kind, pattern in PATTERNS.items():
            if pattern.search(line):
                found.append(f"{number}: {kind}")
    return found


_handler: CaptureHandler | None = None


def start() -> None:
    """Install the handler on the root logger (after Django configured logging) and start
    recording the secrets the run creates."""
    global _handler
    from django.conf import settings
    from django.contrib.sessions.models import Session
    from django.db.models.signals import post_save

    from entitlements.models import ElasticAccount
    from tests.factories import PASSWORD

    SECRETS.add("portal-demo-2026", "demo password")
    SECRETS.add(PASSWORD, "test password")
    SECRETS.add(settings.SECRET_KEY, "SECRET_KEY")

    def session_saved(sender: type, instance: Session, **kwargs: object) -> None:
        SECRETS.add(instance.session_key, "session key")

    def elastic_saved(sender: type, instance: ElasticAccount, **kwargs: object) -> None:
        SECRETS.add(instance.pin, "Elastic PIN")

    post_save.connect(session_saved, sender=Session, weak=False, dispatch_uid="logcapture.session")
    post_save.connect(elastic_saved, sender=ElasticAccount, weak=False, dispatch_uid="logcapture.pin")
    _handler = CaptureHandler(ARTIFACT)
    logging.getLogger().addHandler(_handler)


def finish() -> list[str]:
    global _handler
    if _handler is None:
        return []
    logging.getLogger().removeHandler(_handler)
    _handler.close()
    _handler = None
    with ARTIFACT.open(encoding="utf-8") as lines:
        return findings(lines, SECRETS)
