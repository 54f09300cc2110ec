"""The audit log as people read it: one name per kind of event, one sentence per event.

Services record two spellings for one kind of event: the attempt's name when a refusal is
audited (``membership.add``, denied) and the outcome's when it happened (``membership.added``).
Readers see one kind, "Portal user added", and a sentence in their own language built at
display time from the event's details ("Activated 3 × ansys on cae-lic02 (was 0)"). Rows
are append-only, so old rows are read through the same table, never rewritten.

Presentation only: nothing here decides or records anything (``accounts.audit`` records).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .roles import Permission, Role

# --- Kinds of event ----------------------------------------------------------------------

AUDIT_ACTION_LABELS: Mapping[str, str] = {
    "access.denied": gettext_lazy("Page or action refused"),
    "membership.added": gettext_lazy("Portal user added"),
    "membership.role_changed": gettext_lazy("Role changed"),
    "membership.removed": gettext_lazy("Portal user removed"),
    "invitation.created": gettext_lazy("Invitation sent"),
    "invitation.resent": gettext_lazy("Invitation sent again"),
    "invitation.cancelled": gettext_lazy("Invitation cancelled"),
    "invitation.accepted": gettext_lazy("Invitation accepted"),
    "invitation.declined": gettext_lazy("Invitation declined"),
    "asc.designated": gettext_lazy("ASC designated by support"),
    "customer.created": gettext_lazy("Customer created by support"),
    "customer.updated": gettext_lazy("Customer changed by support"),
    "user.activated": gettext_lazy("Account reactivated by support"),
    "user.deactivated": gettext_lazy("Account deactivated by support"),
    "user.updated": gettext_lazy("Account changed by support"),
    "user.language_set": gettext_lazy("Language changed"),
    "notification.sent_by_support": gettext_lazy("Notification sent by support"),
    "customer.mfa_required": gettext_lazy("Two-factor authentication requirement changed"),
    "email.verified_by_password_reset": gettext_lazy("Email verified by password reset"),
    # Licenses
    "activation.changed": gettext_lazy("Activations changed"),
    "activation.returned": gettext_lazy("Licenses returned to the pool"),
    "license_file.downloaded": gettext_lazy("License file downloaded"),
    "license_file.emailed": gettext_lazy("License file emailed"),
    "license_file.generated": gettext_lazy("License file generated"),
    "server.created": gettext_lazy("License server added"),
    "server.changed": gettext_lazy("License server changed"),
    "server.rehosted": gettext_lazy("License server rehosted"),
    "server.retired": gettext_lazy("License server retired"),
    "rehost_quota.set": gettext_lazy("Rehost quota changed by support"),
    "rehost.extra_granted": gettext_lazy("Extra rehost granted by support"),
    "license.emergency_issued": gettext_lazy("Emergency license issued by support"),
    "license.emergency_downloaded": gettext_lazy("Emergency license downloaded"),
    "entitlement.created": gettext_lazy("Entitlement added by support"),
    "entitlement.changed": gettext_lazy("Entitlement changed by support"),
    "entitlement.import": gettext_lazy("Entitlements imported by support"),
    "product.created": gettext_lazy("Product created by support"),
    "product.changed": gettext_lazy("Product changed by support"),
    # Shared Web and Elastic
    "shared_web.user_added": gettext_lazy("Shared Web user added"),
    "shared_web.user_updated": gettext_lazy("Shared Web user changed"),
    "shared_web.user_reactivated": gettext_lazy("Shared Web user reactivated"),
    "shared_web.user_deactivated": gettext_lazy("Shared Web user deactivated"),
    "shared_web.user_removed": gettext_lazy("Shared Web user removed"),
    "shared_web.user_import": gettext_lazy("Shared Web users imported"),
    "shared_web.group_created": gettext_lazy("Shared Web group created"),
    "shared_web.group_renamed": gettext_lazy("Shared Web group renamed"),
    "shared_web.group_deleted": gettext_lazy("Shared Web group deleted"),
    "shared_web.group_members_changed": gettext_lazy("Shared Web group members changed"),
    "shared_web.seats_changed": gettext_lazy("Shared Web seats reserved"),
    "elastic.account_created": gettext_lazy("Elastic account set up by support"),
    "elastic.budget_changed": gettext_lazy("Elastic budget changed"),
    "elastic.budget_alert_sent": gettext_lazy("Elastic budget alert sent"),
    "elastic.pin_regenerated": gettext_lazy("Elastic PIN regenerated"),
    "elastic.usage_imported": gettext_lazy("Elastic usage imported by support"),
    # API tokens and webhooks (api/)
    "api_token.created": gettext_lazy("API token created"),
    "api_token.revoked": gettext_lazy("API token revoked"),
    "api_token.used": gettext_lazy("Change made with an API token"),
    "webhook.created": gettext_lazy("Webhook endpoint added"),
    "webhook.changed": gettext_lazy("Webhook endpoint changed"),
    "webhook.deleted": gettext_lazy("Webhook endpoint deleted"),
    "webhook.secret_rotated": gettext_lazy("Webhook secret rotated"),
    "webhook.resent": gettext_lazy("Webhook event sent again"),
    "webhook.disabled": gettext_lazy("Webhook endpoint disabled after failures"),
    "calendar.rotated": gettext_lazy("Calendar feed address renewed"),
    "calendar.revoked": gettext_lazy("Calendar feed turned off"),
    "renewal_settings.updated": gettext_lazy("Account manager set by support"),
    "notices.preferences_changed": gettext_lazy("Notification settings changed"),
    # Support's "see as customer" (support/): every page seen, every write refused
    "support.view_as_started": gettext_lazy("Support started viewing the portal as a role"),
    "support.view_as_page": gettext_lazy("Page viewed by support"),
    "support.view_as_write": gettext_lazy("Change refused in support's read-only view"),
    "support.view_as_ended": gettext_lazy("Support stopped viewing the portal"),
    "support_request.filed": gettext_lazy("Request to support filed"),
    "support_request.commented": gettext_lazy("Request to support commented"),
    "support_request.approved": gettext_lazy("Request approved by support"),
    "support_request.rejected": gettext_lazy("Request rejected by support"),
    "support_request.done": gettext_lazy("Request marked done by support"),
}

# The name a refused attempt is recorded under -> the kind of event it would have been.
ATTEMPT_OF: Mapping[str, str] = {
    "renewal_settings.update": "renewal_settings.updated",
    "membership.add": "membership.added",
    "membership.bulk_add": "membership.added",
    "membership.change_role": "membership.role_changed",
    "membership.remove": "membership.removed",
    "invitation.resend": "invitation.resent",
    "invitation.cancel": "invitation.cancelled",
    "asc.designate": "asc.designated",
    "customer.create": "customer.created",
    "customer.update": "customer.updated",
    "user.update": "user.updated",
    "notification.send_now": "notification.sent_by_support",
    "activation.change": "activation.changed",
    "activation.return": "activation.returned",
    "license_file.download": "license_file.downloaded",
    "server.create": "server.created",
    "server.change": "server.changed",
    "server.rehost": "server.rehosted",
    "server.retire": "server.retired",
    "api_token.create": "api_token.created",
    "api_token.revoke": "api_token.revoked",
    "webhook.create": "webhook.created",
    "webhook.change": "webhook.changed",
    "webhook.delete": "webhook.deleted",
    "webhook.rotate": "webhook.secret_rotated",
    "webhook.resend": "webhook.resent",
    "rehost.grant_extra": "rehost.extra_granted",
    "license.emergency_issue": "license.emergency_issued",
    "license.emergency_download": "license.emergency_downloaded",
    "support_request.file": "support_request.filed",
    "support_request.comment": "support_request.commented",
    "support_request.approve": "support_request.approved",
    "support_request.reject": "support_request.rejected",
    "support_request.close": "support_request.done",
    "entitlement.save": "entitlement.changed",
    "product.save": "product.changed",
    "shared_web.user_add": "shared_web.user_added",
    "shared_web.user_update": "shared_web.user_updated",
    "shared_web.user_set_active": "shared_web.user_updated",
    "shared_web.user_remove": "shared_web.user_removed",
    "shared_web.group_create": "shared_web.group_created",
    "shared_web.group_rename": "shared_web.group_renamed",
    "shared_web.group_delete": "shared_web.group_deleted",
    "shared_web.group_members": "shared_web.group_members_changed",
    "shared_web.seats_set": "shared_web.seats_changed",
    "elastic.account_create": "elastic.account_created",
    "elastic.pin_regenerate": "elastic.pin_regenerated",
    "elastic.budget_update": "elastic.budget_changed",
    "elastic.usage_import": "elastic.usage_imported",
}


def audit_kind(action: str) -> str:
    """The kind of event a recorded action belongs to (an attempt's name -> its outcome's)."""
    return ATTEMPT_OF.get(action, action)


def audit_kind_actions(kind: str) -> tuple[str, ...]:
    """Every recorded action of one kind: what a filter on that kind matches."""
    return (kind, *(attempt for attempt, outcome in ATTEMPT_OF.items() if outcome == kind))


def audit_action_label(action: str) -> str:
    """The human name of an action's kind; an unknown action is shown as recorded."""
    label = AUDIT_ACTION_LABELS.get(audit_kind(action))
    return str(label) if label is not None else action


def audit_kind_choices(actions: Iterable[str]) -> list[tuple[str, str]]:
    """Filter choices: each kind once (known kinds and the kinds of ``actions``), by label."""
    kinds = {audit_kind(action) for action in actions} | set(AUDIT_ACTION_LABELS)
    return sorted(((kind, audit_action_label(kind)) for kind in kinds), key=lambda choice: choice[1].casefold())


# --- Sentences ---------------------------------------------------------------------------


def _role(value: object) -> str:
    try:
        return str(Role(value).label)
    except ValueError:
        return str(value)


def _permission(value: object) -> str:
    try:
        return Permission(value).label
    except ValueError:
        return str(value)


def _join(values: object) -> str:
    if isinstance(values, list | tuple):
        return ", ".join(_join(value) for value in values)
    return str(values)


def _activation(target: str, details: Mapping[str, Any]) -> str:
    parts = [
        _("%(after)s × %(feature)s on %(server)s (was %(before)s)")
        % {"after": c.get("after"), "feature": c.get("feature"), "server": target, "before": c.get("before")}
        for c in details.get("changes", [])
    ]
    sentence = _("Activated %(changes)s") % {"changes": "; ".join(parts)} if parts else _("Activations changed")
    if details.get("version"):
        sentence += " · " + _("license file version %(version)s") % {"version": details["version"]}
    return sentence


def _removed(target: str, details: Mapping[str, Any]) -> str:
    if details.get("self"):
        return _("%(email)s left the customer (was %(role)s)") % {"email": target, "role": _role(details.get("role"))}
    return _("Removed %(email)s (%(role)s)") % {"email": target, "role": _role(details.get("role"))}


def _designated(target: str, details: Mapping[str, Any]) -> str:
    if details.get("pending"):
        return _("Designated %(email)s as Support Coordinator (ASC), waiting for the account to be set up") % {
            "email": target
        }
    return _("Designated %(email)s as Support Coordinator (ASC)") % {"email": target}


def _changes(details: Mapping[str, Any]) -> str:
    """``{"field": {"from": a, "to": b}}`` -> ``field: a -> b, ...``."""
    parts = []
    for field, change in details.items():
        if isinstance(change, Mapping) and "to" in change:
            parts.append(f"{field}: {change.get('from', '—')} → {change['to']}")
        else:
            parts.append(f"{field}: {_join(change)}")
    return ", ".join(parts)


_Sentence = Callable[[str, Mapping[str, Any]], str]

SENTENCES: Mapping[str, _Sentence] = {
    "membership.added": lambda t, d: _("Added %(email)s as %(role)s") % {"email": t, "role": _role(d.get("role"))},
    "invitation.created": lambda t, d: _("Invited %(email)s as %(role)s") % {"email": t, "role": _role(d.get("role"))},
    "invitation.accepted": lambda t, d: (
        _("%(email)s accepted the invitation as %(role)s") % {"email": t, "role": _role(d.get("role"))}
    ),
    "invitation.cancelled": lambda t, d: _("Cancelled the invitation of %(email)s") % {"email": t},
    "invitation.declined": lambda t, d: _("%(email)s declined the invitation") % {"email": t},
    "invitation.resent": lambda t, d: _("Sent the invitation to %(email)s again") % {"email": t},
    "membership.role_changed": lambda t, d: (
        _("Changed the role of %(email)s from %(old)s to %(new)s")
        % {"email": t, "old": _role(d.get("from")), "new": _role(d.get("to"))}
    ),
    "membership.removed": _removed,
    "asc.designated": _designated,
    "customer.created": lambda t, d: _("Created customer %(number)s (%(name)s)") % {"number": t, "name": d.get("name")},
    "customer.updated": lambda t, d: (
        _("Changed customer %(number)s: %(changes)s") % {"number": t, "changes": _changes(d)}
    ),
    "customer.mfa_required": lambda t, d: (
        _("Required two-factor authentication for every portal user")
        if d.get("required")
        else _("Stopped requiring two-factor authentication")
    ),
    "activation.changed": lambda t, d: _activation(t, d),
    "activation.returned": lambda t, d: (
        _("Returned %(count)s license(s) from %(server)s to the pool") % {"count": d.get("returned"), "server": t}
    ),
    "license_file.downloaded": lambda t, d: (
        _("Downloaded version %(version)s of the license file of %(server)s")
        % {"version": d.get("version"), "server": t}
    ),
    "license_file.emailed": lambda t, d: (
        _("Emailed version %(version)s of the license file of %(server)s to %(to)s")
        % {"version": d.get("version"), "server": t, "to": _join(d.get("to", ""))}
    ),
    "license_file.generated": lambda t, d: (
        _("Issued version %(version)s of the license file of %(server)s") % {"version": d.get("version"), "server": t}
    ),
    "server.created": lambda t, d: _("Added license server %(server)s") % {"server": t},
    "server.changed": lambda t, d: _("Changed license server %(server)s") % {"server": t},
    "server.rehosted": lambda t, d: (
        _("Rehosted %(server)s from %(old)s to %(new)s")
        % {"server": t, "old": _join(d.get("old", "")), "new": _join(d.get("new", ""))}
    ),
    "rehost.extra_granted": lambda t, d: _("Granted one extra rehost of %(server)s") % {"server": t},
    "license.emergency_issued": lambda t, d: (
        _("Issued an emergency license of %(server)s for host ID %(host)s, valid until %(date)s (request #%(id)s)")
        % {"server": t, "host": d.get("host_id", ""), "date": d.get("expires", ""), "id": d.get("request", "")}
    ),
    "license.emergency_downloaded": lambda t, d: (
        _("Downloaded the emergency license of %(server)s (request #%(id)s)")
        % {"server": t, "id": d.get("request", "")}
    ),
    "rehost_quota.set": lambda t, d: (
        _("Set the rehost allowance to %(count)s a year") % {"count": d.get("rehosts_per_year")}
    ),
    "entitlement.created": lambda t, d: _("Added entitlement line %(line)s") % {"line": t},
    "entitlement.changed": lambda t, d: _("Changed entitlement line %(line)s") % {"line": t},
    "shared_web.user_added": lambda t, d: _("Added Shared Web user %(email)s") % {"email": t},
    "shared_web.user_updated": lambda t, d: _("Changed Shared Web user %(email)s") % {"email": t},
    "shared_web.user_reactivated": lambda t, d: _("Reactivated Shared Web user %(email)s") % {"email": t},
    "shared_web.user_deactivated": lambda t, d: _("Deactivated Shared Web user %(email)s") % {"email": t},
    "shared_web.user_removed": lambda t, d: _("Removed Shared Web user %(email)s") % {"email": t},
    "shared_web.group_created": lambda t, d: _("Created Shared Web group %(group)s") % {"group": t},
    "shared_web.group_renamed": lambda t, d: (
        _("Renamed Shared Web group %(old)s to %(new)s") % {"old": d.get("from"), "new": d.get("to", t)}
    ),
    "shared_web.group_deleted": lambda t, d: _("Deleted Shared Web group %(group)s") % {"group": t},
    "shared_web.group_members_changed": lambda t, d: (
        _("Changed the members of Shared Web group %(group)s") % {"group": t}
    ),
    "shared_web.seats_changed": lambda t, d: (
        _("Reserved %(seats)s seat(s) of %(line)s for group %(group)s (was %(old)s)")
        % {"seats": d.get("to"), "line": d.get("line"), "group": d.get("group"), "old": d.get("from")}
    ),
    "elastic.account_created": lambda t, d: _("Set up the Elastic account %(account)s") % {"account": t},
    "elastic.pin_regenerated": lambda t, d: _("Regenerated the PIN of Elastic account %(account)s") % {"account": t},
    "elastic.budget_changed": lambda t, d: _("Changed the Elastic budget: %(changes)s") % {"changes": _changes(d)},
    "elastic.usage_imported": lambda t, d: (
        _("Imported %(count)s Elastic usage transaction(s)") % {"count": number_format(d.get("transactions", 0))}
    ),
    "support.view_as_started": lambda t, d: (
        _("Support started viewing the portal as %(role)s, read-only") % {"role": _role(d.get("role"))}
    ),
    "support.view_as_page": lambda t, d: (
        _("Support viewed %(path)s as %(role)s") % {"path": t, "role": _role(d.get("role"))}
    ),
    "support.view_as_ended": lambda t, d: (
        _("Support stopped viewing the portal as %(role)s") % {"role": _role(d.get("role"))}
    ),
}


def audit_sentence(*, action: str, target: str, details: Mapping[str, Any] | None, denied: bool) -> str:
    """What happened, as a sentence in the active language."""
    details = details or {}
    if action == "access.denied":
        return _("Refused %(method)s %(path)s: needs “%(permission)s”") % {
            "method": details.get("method", ""),
            "path": target,
            "permission": _permission(details.get("permission")),
        }
    kind = audit_kind(action)
    if denied:
        sentence = _("Refused: %(what)s") % {"what": audit_action_label(kind)}
        return f"{sentence} ({target})" if target else sentence
    render = SENTENCES.get(kind)
    if render is not None:
        try:
            return render(target, details)
        except (TypeError, ValueError, KeyError, AttributeError):
            pass  # details of an older shape: fall back to the label below
    label = audit_action_label(kind)
    return f"{label}: {target}" if target else label
