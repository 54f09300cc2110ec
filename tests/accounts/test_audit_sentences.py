"""The audit log reads like a sentence per event in the reader's language, and the action
filter lists each kind of event once (issue 14, item 12)."""

from __future__ import annotations

import re
from http import HTTPStatus
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation

from accounts.audit_text import ATTEMPT_OF, AUDIT_ACTION_LABELS, audit_kind, audit_sentence
from accounts.models import AuditEvent
from accounts.roles import Role
from tests.activations.helpers import activate, flex_customer, setup_server
from tests.factories import AuditEventFactory, LicenseServerFactory

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
APPS = ("accounts", "activations", "entitlements", "notices", "portal", "api")
QUOTED_ACTION = re.compile(r'"([a-z_]+\.[a-z_]+)"')


def _recorded_actions() -> set[str]:
    """Every action name the code can record: ``action="x"`` and the literals assigned to an
    ``action`` variable (``action = "a" if ... else "b"``)."""
    found: set[str] = set()
    for app in APPS:
        for path in (REPO / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for line in path.read_text().splitlines():
                if re.search(r"\baction\b\s*=", line):
                    found.update(QUOTED_ACTION.findall(line.split("=", 1)[1]))
    return found


def test_every_action_the_code_records_has_a_name() -> None:
    actions = _recorded_actions()
    assert "activation.changed" in actions  # the scan finds real call sites
    assert "shared_web.user_deactivated" in actions  # ... and conditional assignments
    unnamed = sorted(a for a in actions if audit_kind(a) not in AUDIT_ACTION_LABELS)
    assert not unnamed, f"give these audit actions a name in accounts/audit_text.py: {unnamed}"


def test_every_attempt_maps_to_a_named_kind() -> None:
    assert all(kind in AUDIT_ACTION_LABELS for kind in ATTEMPT_OF.values())


def test_an_activation_reads_as_a_sentence_in_each_language(member_client) -> None:
    customer = flex_customer()
    client = member_client(role=Role.ADMINISTRATOR, customer=customer)
    server, line = setup_server(customer, quantity=10, feature="ansys")
    server.name = "cae-lic02"
    server.save()
    activate(server, client.user, {line.pk: 3})
    html = client.get(reverse("audit:list", args=[customer.number])).content.decode()
    assert "Activated 3 × ansys on cae-lic02 (was 0)" in html
    assert "{&#x27;" not in html  # no Python dicts
    assert "&#x27;changes&#x27;" not in html
    event = AuditEvent.objects.get(customer=customer, action="activation.changed")
    with translation.override("tr"):
        turkish = audit_sentence(action=event.action, target=event.target, details=event.details, denied=False)
    assert "cae-lic02" in turkish
    assert "3 × ansys" in turkish
    assert turkish != audit_sentence(action=event.action, target=event.target, details=event.details, denied=False)


def test_the_filter_lists_each_kind_once_and_matches_attempts_and_outcomes(member_client) -> None:
    customer = flex_customer()
    client = member_client(role=Role.ASC, customer=customer)
    server = LicenseServerFactory(customer=customer)
    AuditEventFactory(customer=customer, action="server.change", target=server.name, denied=True)
    AuditEventFactory(customer=customer, action="server.changed", target=server.name)
    AuditEventFactory(customer=customer, action="membership.add", target="x@example.org", denied=True)
    response = client.get(reverse("audit:list", args=[customer.number]))
    choices = response.context["form"].fields["action"].choices
    values = [value for value, _label in choices]
    labels = [str(label) for _value, label in choices]
    assert len(labels) == len(set(labels)), "a name appears twice in the action filter"
    assert "server.changed" in values
    assert "server.change" not in values
    assert "membership.add" not in values
    filtered = client.get(reverse("audit:list", args=[customer.number]), {"action": "server.changed"})
    assert filtered.status_code == HTTPStatus.OK
    assert {e.action for e, _l, _s in filtered.context["rows"]} == {"server.change", "server.changed"}


def test_a_refused_attempt_says_so() -> None:
    assert audit_sentence(action="membership.add", target="boss@example.org", details={"reason": "x"}, denied=True) == (
        "Refused: Portal user added (boss@example.org)"
    )
    sentence = audit_sentence(
        action="access.denied",
        target="/c/1/users/bulk/",
        details={"method": "GET", "permission": "manage_users"},
        denied=True,
    )
    assert sentence == "Refused GET /c/1/users/bulk/: needs “Add portal users (excluding the ASC role)”"


@pytest.mark.parametrize(
    ("action", "target", "details", "expected"),
    [
        (
            "membership.role_changed",
            "v@example.org",
            {"from": "viewer", "to": "administrator"},
            "Changed the role of v@example.org from License Portal Viewer to License Portal Administrator",
        ),
        (
            "membership.removed",
            "v@example.org",
            {"role": "viewer", "self": True},
            "v@example.org left the customer (was License Portal Viewer)",
        ),
        (
            "server.rehosted",
            "lic01",
            {"old": ["001122AABBCC"], "new": ["AABBCCDDEEFF"], "version": 3},
            "Rehosted lic01 from 001122AABBCC to AABBCCDDEEFF",
        ),
        (
            "shared_web.seats_changed",
            "g / L1",
            {"line": "L1", "group": "g", "from": 0, "to": 2},
            "Reserved 2 seat(s) of L1 for group g (was 0)",
        ),
        # Details of an unexpected shape fall back to the name, never to a 500 or a dict.
        ("activation.changed", "lic01", {"changes": "garbage"}, "Activations changed: lic01"),
        ("some.future_action", "x", {"a": 1}, "some.future_action: x"),
    ],
)
def test_sentences(action, target, details, expected) -> None:
    assert audit_sentence(action=action, target=target, details=details, denied=False) == expected
