"""Optional error reporting: Sentry, on when ``SENTRY_DSN`` is set (production settings)."""

from __future__ import annotations

from typing import Any

from .requestlog import request_id_var


def _scrub(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    # send_default_pii is off (no cookies, no user IP or email); the request id joins the
    # report to the log lines of the same request.
    if request_id := request_id_var.get():
        event.setdefault("tags", {})["request_id"] = request_id
    return event


def sentry_init(*, dsn: str, environment: str) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        # Request bodies hold passwords and PINs; stack frames' locals may too.
        max_request_body_size="never",
        include_local_variables=False,
        traces_sample_rate=0.0,
        before_send=_scrub,
    )
