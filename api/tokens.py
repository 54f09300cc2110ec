"""Personal access tokens: the secret's format, and authentication from a raw token.

``authenticate(raw)`` is the one entry point for every token-authenticated request (the API,
and later the usage agent's upload endpoint): it answers who acts, for which customer, with
which permissions, or None. A token acts with the permissions its role and its owner's
*current* role both carry, so a token stops working the moment its owner loses the
membership, and is narrowed the moment the owner's role is lowered.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from dataclasses import dataclass

from django.db import connection
from django.db.models import F
from django.utils import timezone

from accounts.access import memberships_read
from accounts.models import Customer, Membership, User
from accounts.roles import Permission, Role, role_permissions
from portal.db import prepared_cursor

from .models import ApiToken

PREFIX = "lpat_"
_SECRET_BYTES = 30  # 40 characters of URL-safe base64 after the prefix
PREFIX_SHOWN = len(PREFIX) + 6
# Writing last-used on every request would make every read a write: once a minute is enough.
LAST_USED_PRECISION = datetime.timedelta(seconds=60)

# The permissions that only read; a token carrying anything else can change things.
READ_PERMISSIONS = frozenset({Permission.VIEW, Permission.DOWNLOAD_LICENSE_FILES})


def token_generate() -> str:
    return PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def token_hash(raw: str) -> str:
    # Tokens carry 240 random bits: a fast hash is enough (no dictionary to attack), and it
    # lets a request find its token by an indexed equality lookup.
    return hashlib.sha256(raw.encode()).hexdigest()


def token_permissions(*, token_role: Role | str, owner_role: Role | str) -> frozenset[Permission]:
    """What a token may do: the permissions both its role and its owner's role carry."""
    return role_permissions(token_role) & role_permissions(owner_role)


def role_within(*, role: Role | str, of: Role | str) -> bool:
    """True when ``role`` carries no permission that ``of`` lacks ("no higher than")."""
    return role_permissions(role) <= role_permissions(of)


def is_write_capable(role: Role | str) -> bool:
    return bool(role_permissions(role) - READ_PERMISSIONS)


@dataclass(frozen=True)
class TokenAccess:
    token: ApiToken
    user: User
    customer: Customer
    membership: Membership
    permissions: frozenset[Permission]

    def has(self, permission: Permission) -> bool:
        return permission in self.permissions


def _token_sql() -> tuple[str, tuple[list[str], list[str], list[str]]]:
    """The token, its owner, its customer and the owner's membership of that customer, in one
    statement built from the models' fields at import (no user input): the same query an ORM
    join would make, without compiling it on every API request (docs/performance.md)."""
    tables = (ApiToken._meta, User._meta, Customer._meta)
    columns = [[f.column for f in meta.concrete_fields] for meta in tables]
    select = [f"{alias}.{c}" for alias, names in zip("tuc", columns, strict=True) for c in names]
    sql = (
        f"SELECT {', '.join(select)}, m.id, m.role FROM {ApiToken._meta.db_table} t "  # noqa: S608 - names from the models
        f"JOIN {User._meta.db_table} u ON u.id = t.user_id "
        f"JOIN {Customer._meta.db_table} c ON c.id = t.customer_id "
        f"JOIN {Membership._meta.db_table} m ON m.customer_id = t.customer_id AND m.user_id = t.user_id "
        "WHERE t.token_hash = %s AND t.revoked_at IS NULL AND t.expires_at > %s AND u.is_active"
    )
    return sql, tuple([f.attname for f in meta.concrete_fields] for meta in tables)


TOKEN_SQL, (_TOKEN_FIELDS, _USER_FIELDS, _CUSTOMER_FIELDS) = _token_sql()


def _token_row_orm(raw: str, now: datetime.datetime) -> tuple[ApiToken, str, int] | None:
    """``_token_row`` through the ORM, for databases whose raw rows need Django's converters
    (SQLite returns datetimes as text and booleans as integers)."""
    # The join made by this filter() is the one the annotations read (a filter after them
    # would join again and could read another member's role).
    token = (
        ApiToken.objects.select_related("user", "customer")
        .filter(
            token_hash=token_hash(raw),
            revoked_at__isnull=True,
            expires_at__gt=now,
            user__is_active=True,
            customer__memberships__user_id=F("user_id"),
        )
        .annotate(owner_role=F("customer__memberships__role"), owner_membership_id=F("customer__memberships__pk"))
        .first()
    )
    if token is None or token.owner_role is None:
        return None
    return token, token.owner_role, token.owner_membership_id


def _token_row(raw: str, now: datetime.datetime) -> tuple[ApiToken, str, int] | None:
    """The active token of an active owner who is still a member, with the owner's role and
    membership id, or None."""
    if connection.vendor != "postgresql":
        return _token_row_orm(raw, now)
    # Prepared: planned once per connection (a lookup by the unique hash plans the same for
    # every token), which was half of PostgreSQL's time for an API request.
    with prepared_cursor() as cursor:
        cursor.execute(TOKEN_SQL, [token_hash(raw), now])
        row = cursor.fetchone()
    if row is None:
        return None
    token_end = len(_TOKEN_FIELDS)
    user_end = token_end + len(_USER_FIELDS)
    customer_end = user_end + len(_CUSTOMER_FIELDS)
    token = ApiToken.from_db("default", _TOKEN_FIELDS, row[:token_end])
    token.user = User.from_db("default", _USER_FIELDS, row[token_end:user_end])
    token.customer = Customer.from_db("default", _CUSTOMER_FIELDS, row[user_end:customer_end])
    membership_id, role = row[customer_end:]
    return token, role, membership_id


def authenticate(raw: str, *, ip: str | None = None) -> TokenAccess | None:
    """The access a raw token gives right now, or None (unknown, revoked, expired, owner
    inactive, or owner no longer a member). One query; records last use at most once a minute."""
    if not raw.startswith(PREFIX) or len(raw) > 100:
        return None
    now = timezone.now()
    found = _token_row(raw, now)
    if found is None:
        return None
    token, owner_role, membership_id = found
    membership = Membership(pk=membership_id, user=token.user, customer=token.customer, role=owner_role)
    # The services' ``authorize`` checks this same row: read above, in this request.
    memberships_read(user=token.user, memberships=[membership])
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION or token.last_used_ip != ip:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)
        token.last_used_at, token.last_used_ip = now, ip
    return TokenAccess(
        token=token,
        user=token.user,
        customer=token.customer,
        membership=membership,
        permissions=token_permissions(token_role=token.role, owner_role=owner_role),
    )
