"""Domain errors that views turn into form errors or 4xx responses."""

from __future__ import annotations


class PortalError(Exception):
    """A refusal with a message fit to show the user."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class AccessDenied(PortalError):
    """The actor's role does not carry the permission the action needs (HTTP 403)."""
