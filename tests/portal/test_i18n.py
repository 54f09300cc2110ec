"""English and Turkish (issue 6, item 2): a complete Turkish catalogue, pages in the chosen
language, a remembered choice, and dates formatted per language.

Expected texts come from the catalogue (``translation.override`` + ``gettext``), never
hard-coded Turkish, so rewording a translation does not break these tests.
"""

from __future__ import annotations

import datetime
import gettext as gnu_gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import formats, translation
from django.utils.translation import gettext

from accounts.roles import Role
from activations.services import license_file_render
from tests.factories import ActivationFactory, EntitlementFactory, LicenseServerFactory, ProductFactory

LOCALE_DIR = Path(settings.BASE_DIR) / "locale"
PO_FILE = LOCALE_DIR / "tr" / "LC_MESSAGES" / "django.po"
MO_FILE = LOCALE_DIR / "tr" / "LC_MESSAGES" / "django.mo"

# The customer navigation, in English: none of it may remain on a Turkish page.
NAV_LABELS = ("Entitlements", "Activations", "Users", "Settings", "Audit log")
END_DATE = datetime.date(2027, 12, 31)


# --- The catalogue ------------------------------------------------------------------------------


def _unquote(block: str) -> str:
    """The text of a .po string made of one or more "..." lines."""
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', block)
    return "".join(parts).encode("raw_unicode_escape").decode("unicode_escape")


def _po_fields(lines: list[str]) -> dict[str, list[str]]:
    """msgctxt, msgid, msgid_plural and msgstr[n] of one entry: each its "..." lines."""
    fields: dict[str, list[str]] = {}
    key = None
    for line in lines:
        match = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) (".*")$', line)
        if match:
            key = match.group(1)
            fields[key] = [match.group(2)]
        elif line.startswith('"') and key:
            fields[key].append(line)
    return fields


def _po_entry(lines: list[str]) -> dict:
    flags = {f.strip() for line in lines if line.startswith("#,") for f in line[2:].split(",")}
    fields = _po_fields(lines)
    return {
        "flags": flags,
        "msgctxt": _unquote("\n".join(fields["msgctxt"])) if "msgctxt" in fields else None,
        "msgid": _unquote("\n".join(fields["msgid"])),
        "msgid_plural": _unquote("\n".join(fields["msgid_plural"])) if "msgid_plural" in fields else None,
        "msgstr": {k: _unquote("\n".join(v)) for k, v in fields.items() if k.startswith("msgstr")},
    }


def _po_entries() -> list[dict]:
    """Every entry of the Turkish .po (header included): flags, msgid, msgid_plural, msgstrs."""
    text = PO_FILE.read_text(encoding="utf-8")
    entries = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.splitlines() if not line.startswith("#~")]
        if any(line.startswith("msgid ") for line in lines):
            entries.append(_po_entry(lines))
    return entries


_PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|%%")


def _translated(entry: dict) -> bool:
    """Every msgstr (each plural form) has text."""
    return all(s.strip() for s in entry["msgstr"].values())


def test_the_turkish_catalogue_has_no_fuzzy_or_untranslated_entries() -> None:
    entries = _po_entries()
    header = [e for e in entries if e["msgid"] == "" and e["msgctxt"] is None]
    assert header, "the .po has its header"
    assert "fuzzy" not in header[0]["flags"], "the header is marked fuzzy: msgfmt would skip it"
    messages = [e for e in entries if e["msgid"] != ""]
    assert len(messages) > 500, "the catalogue is the whole portal, not a sample"
    fuzzy = [e["msgid"] for e in messages if "fuzzy" in e["flags"]]
    untranslated = [e["msgid"] for e in messages if not _translated(e)]
    assert not fuzzy, f"fuzzy entries: {fuzzy[:10]}"
    assert not untranslated, f"untranslated entries: {untranslated[:10]}"


def test_turkish_plural_forms_follow_djangos_catalogue() -> None:
    header = next(e for e in _po_entries() if e["msgid"] == "")["msgstr"]["msgstr"]
    assert "Plural-Forms: nplurals=2; plural=(n > 1);" in header
    assert "Language: tr" in header


def test_every_translation_keeps_the_placeholders_and_markup() -> None:
    problems = []
    for entry in _po_entries():
        if not entry["msgid"]:
            continue
        sources = [entry["msgid"]] + ([entry["msgid_plural"]] if entry["msgid_plural"] else [])
        for key, translated in entry["msgstr"].items():
            source = sources[-1] if key.endswith("[1]") else sources[0]
            python_format = "python-format" in entry["flags"]
            if python_format and sorted(_PLACEHOLDER.findall(source)) != sorted(_PLACEHOLDER.findall(translated)):
                problems.append((source, translated))
            if sorted(re.findall(r"</?[a-z]+[^>]*>", source)) != sorted(re.findall(r"</?[a-z]+[^>]*>", translated)):
                problems.append((source, translated))
    assert not problems, problems[:10]


def test_the_compiled_catalogue_matches_the_po_file() -> None:
    """The .mo is committed (the image has no gettext): it must be compiled from this .po."""
    with MO_FILE.open("rb") as handle:
        compiled = gnu_gettext.GNUTranslations(handle)
    stale = []
    for entry in _po_entries():
        if not entry["msgid"]:
            continue
        context = entry["msgctxt"]
        if entry["msgid_plural"]:
            got = [
                compiled.npgettext(context, entry["msgid"], entry["msgid_plural"], n)
                if context
                else compiled.ngettext(entry["msgid"], entry["msgid_plural"], n)
                for n in (1, 2)
            ]
            want = [entry["msgstr"]["msgstr[0]"], entry["msgstr"]["msgstr[1]"]]
        else:
            got = [compiled.pgettext(context, entry["msgid"]) if context else compiled.gettext(entry["msgid"])]
            want = [entry["msgstr"]["msgstr"]]
        if got != want:
            stale.append(entry["msgid"])
    assert not stale, f"run compilemessages: the .mo lacks or differs on {stale[:5]}"


def test_key_terms_are_translated_consistently() -> None:
    with translation.override("tr"):
        assert gettext("Support Coordinator (ASC)") == "Destek Koordinatörü (ASC)"
        assert gettext("License Portal Administrator") == "Lisans Portalı Yöneticisi"
        assert gettext("License Portal Viewer") == "Lisans Portalı Görüntüleyicisi"
        for english in NAV_LABELS:
            assert gettext(english) != english, english


# --- Pages in Turkish ---------------------------------------------------------------------------


def _turkish(text: str) -> str:
    with translation.override("tr"):
        return gettext(text)


def _turkish_client(client: Client) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "tr"
    return client


def _assert_turkish(body: str, *expected: str) -> None:
    assert '<html lang="tr">' in body
    for english in expected:
        assert _turkish(english) in body, f"{english!r} is not shown as {_turkish(english)!r}"


def _assert_no_english_nav(body: str) -> None:
    for english in NAV_LABELS:
        assert f">{english}<" not in body, f"English navigation label {english!r} on a Turkish page"


@pytest.mark.django_db
def test_the_login_page_is_turkish() -> None:
    body = _turkish_client(Client()).get(reverse("account_login")).content.decode()
    _assert_turkish(body, "Language")
    # allauth's own pages come with allauth's Turkish catalogue.
    with translation.override("tr"):
        sign_in = gettext("Sign In")
    assert sign_in != "Sign In"
    assert sign_in in body


@pytest.mark.django_db
def test_customer_pages_are_turkish(member_client) -> None:
    client = _turkish_client(member_client(role=Role.ASC))
    number = client.membership.customer.number
    EntitlementFactory(customer=client.membership.customer)
    pages = {
        reverse("access"): ("License Portal Access", "Permissions"),
        reverse("roles_help"): ("Roles and permissions", "Support Coordinator (ASC)", "Activate entitlements"),
        reverse("entitlements:list", args=[number]): ("Entitlements", "Quantity", "Term", "Active"),
        reverse("users:list", args=[number]): ("Portal users", "Add a portal user", "Pending invitations"),
        reverse("audit:list", args=[number]): ("Audit log", "All actions"),
    }
    for url, expected in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        _assert_turkish(body, *expected)
        _assert_no_english_nav(body)
        if "/c/" in url:
            _assert_turkish(body, *NAV_LABELS)


@pytest.mark.django_db
def test_a_viewer_sees_the_role_and_permissions_in_turkish(member_client) -> None:
    client = _turkish_client(member_client(role=Role.VIEWER))
    body = client.get(reverse("access")).content.decode()
    _assert_turkish(body, "License Portal Viewer", "Download existing license files")


@pytest.mark.django_db
def test_messages_and_form_errors_are_turkish(member_client) -> None:
    client = _turkish_client(member_client(role=Role.ASC))
    number = client.membership.customer.number
    response = client.post(
        reverse("users:add", args=[number]), {"email": "not-an-email", "role": "viewer"}, follow=True
    )
    body = response.content.decode()
    assert '<html lang="tr">' in body
    assert "Enter a valid email address." not in body
    assert _turkish("Enter a valid email address.") in body


# --- The switcher remembers the choice ------------------------------------------------------------


@pytest.mark.django_db
def test_switching_to_turkish_is_remembered(member_client) -> None:
    client = member_client(role=Role.VIEWER)
    number = client.membership.customer.number
    EntitlementFactory(customer=client.membership.customer)  # FlexNet: the Activations section shows
    page = reverse("entitlements:list", args=[number])
    assert '<html lang="en">' in client.get(page).content.decode()

    response = client.post(reverse("set_language"), {"language": "tr", "next": page})
    assert response.status_code == 302
    assert response.url == page
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "tr"
    assert int(cookie["max-age"]) == settings.LANGUAGE_COOKIE_AGE

    for _ in range(2):  # the next pages, without asking again
        body = client.get(page).content.decode()
        _assert_turkish(body, *NAV_LABELS)
        _assert_no_english_nav(body)

    client.post(reverse("set_language"), {"language": "en", "next": page})
    body = client.get(page).content.decode()
    assert '<html lang="en">' in body
    assert ">Entitlements<" in body


@pytest.mark.django_db
def test_the_switcher_names_each_language_in_itself() -> None:
    body = _turkish_client(Client()).get(reverse("account_login")).content.decode()
    assert 'title="English"' in body
    assert 'title="Türkçe"' in body


# --- Dates and numbers per language -----------------------------------------------------------------


def test_short_dates_per_language() -> None:
    with translation.override("tr"):
        assert formats.date_format(END_DATE, "SHORT_DATE_FORMAT") == "31.12.2027"
        assert formats.date_format(END_DATE, "DATE_FORMAT") == "31 Aralık 2027"
    with translation.override("en"):
        assert formats.date_format(END_DATE, "SHORT_DATE_FORMAT") == "31 Dec 2027"
        assert formats.date_format(END_DATE, "DATE_FORMAT") == "31 December 2027"


@pytest.mark.django_db
def test_entitlement_dates_follow_the_language(member_client) -> None:
    client = member_client(role=Role.VIEWER)
    customer = client.membership.customer
    EntitlementFactory(
        customer=customer, start_date=datetime.date(2026, 1, 1), end_date=END_DATE, tecs_end_date=END_DATE
    )
    page = reverse("entitlements:list", args=[customer.number])
    with translation.override("en"):
        english = formats.date_format(END_DATE, "SHORT_DATE_FORMAT")
    with translation.override("tr"):
        turkish = formats.date_format(END_DATE, "SHORT_DATE_FORMAT")
    assert turkish == "31.12.2027"
    assert english != turkish

    body = client.get(page).content.decode()
    assert english in body
    assert turkish not in body
    assert "2027-12-31<" not in body, "ISO dates in the table are not per language"

    body = _turkish_client(client).get(page).content.decode()
    assert turkish in body
    assert english not in body
    assert "December" not in body
    assert "Dec " not in body


@pytest.mark.django_db
def test_numbers_use_the_languages_decimal_separator() -> None:
    with translation.override("tr"):
        assert formats.number_format(1234.5, 2) == "1234,50"
    with translation.override("en"):
        assert formats.number_format(1234.5, 2) == "1234.50"


@pytest.mark.django_db
def test_the_license_file_stays_in_the_flexlm_dialect_in_turkish() -> None:
    product = ProductFactory(feature="ansys", name="Mechanical Enterprise")
    server = LicenseServerFactory()
    lease = EntitlementFactory(customer=server.customer, product=product, end_date=END_DATE, tecs_end_date=None)
    perpetual = EntitlementFactory(customer=server.customer, product=product, end_date=None, tecs_end_date=END_DATE)
    ActivationFactory(server=server, entitlement=lease)
    ActivationFactory(server=server, entitlement=perpetual)
    with translation.override("tr"):
        turkish = license_file_render(server=server, version=1, today=datetime.date(2026, 11, 28))
    with translation.override("en"):
        english = license_file_render(server=server, version=1, today=datetime.date(2026, 11, 28))
    assert turkish == english
    assert "31-dec-2027" in turkish
    assert "ISSUED=28-nov-2026" in turkish
    assert ", lease," in turkish
    assert ", perpetual," in turkish
    assert "TECS none" in turkish
    for word in ("Süresiz", "süresiz", "kiralık", "Aralık", "31.12.2027"):
        assert word not in turkish
