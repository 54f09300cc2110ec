"""Every previewed import (bulk add users, Shared Web users) is shown by the one
preview-then-apply template, with its own wording and columns."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.urls import reverse

from accounts.roles import Role
from tests.entitlements.test_licensing_views import licensed_customer

IMPORTS = [
    ("users:bulk", "person@example.org,viewer\nnot-an-email,viewer", "Role"),
    ("licensing_settings:shared_web_users_import", "person@example.org,Ada\nnot-an-email,Bob", "Name"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("url_name", "text", "column"), IMPORTS, ids=[name for name, *_ in IMPORTS])
def test_the_preview_is_the_shared_template(url_name, text, column, member_client) -> None:
    customer = licensed_customer()
    client = member_client(role=Role.ASC, customer=customer)
    url = reverse(url_name, args=[customer.number])
    response = client.post(url, {"text": text, "preview": "1"})
    assert response.status_code == HTTPStatus.OK
    assert "includes/previewed_import.html" in [template.name for template in response.templates]
    html = response.content.decode()
    assert f'<th scope="col">{column}</th>' in html
    assert f'action="{url}"' in html
    assert 'class="row--error"' in html  # the invalid line is marked and blocks applying
    assert 'name="apply"' not in html
    assert 'class="badge badge--danger"' in html  # every outcome has a badge style
