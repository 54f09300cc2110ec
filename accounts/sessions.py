"""Ending a user's sessions when their access shrinks."""

from __future__ import annotations

from allauth.usersessions.models import UserSession

from .models import User


def user_sessions_end(*, user: User) -> int:
    """Ends every session of the user at once (all devices). Returns how many ended.

    Sessions are tracked by allauth's usersessions middleware on every authenticated
    request, so this reaches every browser the user is logged in with."""
    sessions = list(UserSession.objects.filter(user=user))
    for session in sessions:
        session.end()
    return len(sessions)
