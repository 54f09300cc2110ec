"""Domain errors: the two ways a service refuses, with a message fit to show the user.

``PortalError`` is a refusal of the request itself (bad input, a race, a rule): views put
it on the form or show it as a message. ``AccessDenied`` is a refusal of the actor: the
role (or the lack of support-staff rights) does not allow the action. It is not a
``PortalError``, so ``except PortalError`` never swallows it; it travels up to
``CustomerViewMixin`` (403 + audit) or, outside customer pages, to Django's 403 handler
(it is a ``PermissionDenied``). Code that shows either the same way (the support console)
catches ``DomainError``.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied


class DomainError(Exception):
    """A refusal with a message fit to show the user: the base of both kinds."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PortalError(DomainError):
    """The request is refused (input, state, a rule); ``field`` names the form field at fault."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AccessDenied(DomainError, PermissionDenied):
    """The actor's role does not carry the permission the action needs (HTTP 403).

    ``audited`` is True once the denied attempt has been recorded (``accounts.access.deny``);
    the customer-view mixin records the ones that were not."""

    def __init__(self, message: str, *, audited: bool = False) -> None:
        super().__init__(message)
        self.audited = audited
