"""Every write to products and entitlement lines (support staff, from the support console).

Activated quantities are changed only by ``activations.services`` under a row lock.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.access import authorize_staff, console_authorize
from accounts.audit import audit_record
from accounts.models import Customer, User
from portal.csv import csv_table_read
from portal.errors import PortalError

from .models import Entitlement, LicensingModel, Product, feature_name_validator

IMPORT_COLUMNS = (
    "customer_number",
    "line_id",
    "order_number",
    "feature",
    "quantity",
    "start_date",
    "end_date",
    "tecs_end_date",
    "borrowable",
)
IMPORT_REQUIRED = ("customer_number", "line_id", "feature", "quantity", "start_date")
MAX_IMPORT_LINES = 5000
_MAX_QUANTITY = 1_000_000

# What support-only changes answer a portal user (``authorize_staff``).
_STAFF_ONLY = gettext_lazy("Only support staff can change products and entitlements.")


@transaction.atomic
def product_save(
    *, actor: User, feature: str, name: str, licensing_model: LicensingModel | str, product: Product | None = None
) -> Product:
    """Creates or updates a product (support only). Audited."""
    authorize_staff(actor=actor, action="product.save", message=_STAFF_ONLY)
    try:
        feature_name_validator(feature)
    except ValidationError:
        raise PortalError(
            _("A FlexNet feature name is 1 to 30 letters, digits or underscores."), field="feature"
        ) from None
    if licensing_model not in LicensingModel.values:
        raise PortalError(_("Choose a licensing model."), field="licensing_model")
    if not name.strip():
        raise PortalError(_("Enter a display name."), field="name")
    duplicate = Product.objects.filter(feature=feature).exclude(pk=getattr(product, "pk", None)).exists()
    if duplicate:
        raise PortalError(
            _("Another product already has the feature %(feature)s.") % {"feature": feature}, field="feature"
        )
    created = product is None
    product = product or Product()
    product.feature, product.name, product.licensing_model = feature, name.strip(), licensing_model
    product.save()
    audit_record(
        customer=None,
        actor=actor,
        action="product.created" if created else "product.changed",
        target=feature,
        details={"name": product.name, "licensing_model": str(licensing_model)},
    )
    return product


@dataclass
class EntitlementData:
    customer: Customer
    line_id: str
    product: Product
    quantity: int
    start_date: datetime.date
    end_date: datetime.date | None
    tecs_end_date: datetime.date | None
    borrowable: bool
    order_number: str = ""


def _check_data(data: EntitlementData, *, existing: Entitlement | None) -> None:
    if not 1 <= data.quantity <= _MAX_QUANTITY:
        raise PortalError(_("The quantity must be from 1 to %(max)s.") % {"max": _MAX_QUANTITY}, field="quantity")
    if data.end_date is not None and data.end_date < data.start_date:
        raise PortalError(_("The end date is before the start date."), field="end_date")
    if existing is not None:
        if existing.customer_id != data.customer.pk:
            raise PortalError(_("Line %(line)s belongs to another customer.") % {"line": data.line_id}, field="line_id")
        if data.quantity < existing.activated:
            raise PortalError(
                _("Line %(line)s has %(activated)s licenses activated; the quantity cannot go below that.")
                % {"line": data.line_id, "activated": existing.activated},
                field="quantity",
            )
        if existing.activated and existing.product_id != data.product.pk:
            raise PortalError(
                _("Line %(line)s has activations; its product cannot change.") % {"line": data.line_id},
                field="product",
            )


def _apply(entitlement: Entitlement, data: EntitlementData) -> None:
    entitlement.customer = data.customer
    entitlement.line_id = data.line_id
    entitlement.product = data.product
    entitlement.quantity = data.quantity
    entitlement.start_date = data.start_date
    entitlement.end_date = data.end_date
    entitlement.tecs_end_date = data.tecs_end_date
    entitlement.borrowable = data.borrowable
    entitlement.order_number = data.order_number


def _details(data: EntitlementData) -> dict[str, Any]:
    return {
        "line": data.line_id,
        "feature": data.product.feature,
        "quantity": data.quantity,
        "start": data.start_date.isoformat(),
        "end": data.end_date.isoformat() if data.end_date else None,
        "tecs_end": data.tecs_end_date.isoformat() if data.tecs_end_date else None,
        "borrowable": data.borrowable,
    }


def entitlement_save(*, actor: User, data: EntitlementData, entitlement: Entitlement | None = None) -> Entitlement:
    """Creates a line, or changes one (locked, so its quantity never drops below what is
    activated meanwhile). Support only; audited on the line's customer."""
    authorize_staff(actor=actor, action="entitlement.save", message=_STAFF_ONLY)
    try:
        with transaction.atomic():
            existing = None
            if entitlement is not None and entitlement.pk:
                existing = Entitlement.objects.select_for_update().get(pk=entitlement.pk)
            _check_data(data, existing=existing)
            target = existing or Entitlement()
            _apply(target, data)
            target.save()
            audit_record(
                customer=data.customer,
                actor=actor,
                action="entitlement.changed" if existing else "entitlement.created",
                target=data.line_id,
                details=_details(data),
            )
            return target
    except IntegrityError:
        raise PortalError(_("Line %(line)s already exists.") % {"line": data.line_id}, field="line_id") from None


# --- CSV import ---------------------------------------------------------------------------


@dataclass
class ImportLine:
    number: int
    raw: dict[str, str]
    data: EntitlementData | None = None
    errors: list[str] = field(default_factory=list)
    update: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


def _parse_date(value: str, what: str, errors: list[str], *, required: bool = False) -> datetime.date | None:
    value = value.strip()
    if not value or value.lower() in ("perpetual", "permanent", "-"):
        if required:
            errors.append(_("%(what)s is required (YYYY-MM-DD).") % {"what": what})
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        errors.append(_("%(what)s %(value)s is not a date (YYYY-MM-DD).") % {"what": what, "value": value[:30]})
        return None


def _parse_bool(value: str, errors: list[str]) -> bool:
    value = value.strip().lower()
    if value in ("", "0", "no", "false", "n"):
        return False
    if value in ("1", "yes", "true", "y", "x"):
        return True
    errors.append(_("borrowable must be yes or no, not %(value)s.") % {"value": value[:20]})
    return False


def entitlement_import_plan(*, text: str) -> list[ImportLine]:
    """Reads an entitlement CSV (header row with ``IMPORT_COLUMNS``) into lines, each
    with its data or its errors. Reads only; raises PortalError for a file it cannot use.

    Parse (``portal.csv.csv_table_read``) -> plan (this function, a line per row) -> apply
    (``entitlement_import``), like every importer."""
    numbered = csv_table_read(text, required=IMPORT_REQUIRED, expected=IMPORT_COLUMNS, max_rows=MAX_IMPORT_LINES).rows
    if not numbered:
        raise PortalError(_("The CSV file has no lines."))
    known = _ImportKnown.read([row for _number, row in numbered])
    seen: set[str] = set()
    return [_import_line(number, row, known=known, seen=seen) for number, row in numbered]


@dataclass
class _ImportKnown:
    """The customers, products and existing lines an import's rows name (three queries)."""

    customers: dict[str, Customer]
    products: dict[str, Product]
    existing: dict[str, Entitlement]

    @classmethod
    def read(cls, rows: Sequence[dict[str, str]]) -> _ImportKnown:
        def values(column: str) -> set[str]:
            return {row.get(column, "") for row in rows}

        return cls(
            customers={c.number: c for c in Customer.objects.filter(number__in=values("customer_number"))},
            products={p.feature: p for p in Product.objects.filter(feature__in=values("feature"))},
            existing={e.line_id: e for e in Entitlement.objects.filter(line_id__in=values("line_id"))},
        )


def _import_line(number: int, row: dict[str, str], *, known: _ImportKnown, seen: set[str]) -> ImportLine:
    """One row of an entitlement import: its data, or every error it has."""
    line = ImportLine(number=number, raw=row)
    errors = line.errors
    customer = known.customers.get(row.get("customer_number", ""))
    if customer is None:
        errors.append(_("Unknown customer number %(value)s.") % {"value": row.get("customer_number", "")[:20]})
    product = known.products.get(row.get("feature", ""))
    if product is None:
        errors.append(_("Unknown product feature %(value)s.") % {"value": row.get("feature", "")[:30]})
    line_id = _import_line_id(row.get("line_id", ""), seen=seen, errors=errors)
    quantity = _parse_quantity(row.get("quantity", ""), errors)
    start = _parse_date(row.get("start_date", ""), _("start_date"), errors, required=True)
    end = _parse_date(row.get("end_date", ""), _("end_date"), errors)
    tecs = _parse_date(row.get("tecs_end_date", ""), _("tecs_end_date"), errors)
    borrowable = _parse_bool(row.get("borrowable", ""), errors)
    if errors:
        return line
    assert customer is not None
    assert product is not None
    assert start is not None
    line.data = EntitlementData(
        customer=customer,
        line_id=line_id,
        product=product,
        quantity=quantity,
        start_date=start,
        end_date=end,
        tecs_end_date=tecs,
        borrowable=borrowable,
        order_number=row.get("order_number", "")[:40],
    )
    previous = known.existing.get(line_id)
    line.update = previous is not None
    try:
        _check_data(line.data, existing=previous)
    except PortalError as error:
        errors.append(error.message)
    return line


def _import_line_id(line_id: str, *, seen: set[str], errors: list[str]) -> str:
    try:
        Entitlement._meta.get_field("line_id").run_validators(line_id)
    except ValidationError:
        errors.append(_("The line id %(value)s is not like 1001234-0003.") % {"value": line_id[:40]})
    if line_id in seen:
        errors.append(_("Line %(value)s appears twice in the file.") % {"value": line_id})
    seen.add(line_id)
    return line_id


def _parse_quantity(value: str, errors: list[str]) -> int:
    if value.isascii() and value.isdigit() and len(value) <= 9:
        return int(value)
    errors.append(_("The quantity %(value)s is not a whole number.") % {"value": value[:20]})
    return 0


def entitlement_import(*, actor: User, text: str) -> list[Entitlement]:
    """Applies an entitlement CSV, all or nothing: any line with an error refuses the whole
    file (the preview names the lines). Support staff with the import permission only; each
    line audited."""
    console_authorize(
        actor=actor,
        action="entitlement.import",
        message=_STAFF_ONLY,
        permission="entitlements.add_entitlement",
    )
    with transaction.atomic():
        plan = entitlement_import_plan(text=text)
        bad = [line for line in plan if not line.ok]
        if bad:
            raise PortalError(
                _("%(count)s line(s) have errors (first: line %(line)s); nothing was imported.")
                % {"count": len(bad), "line": bad[0].number}
            )
        # Lock the lines being updated, in id order, before the first write: writing raises the
        # customer's data version (a row lock on the customer), and activations lock their lines
        # first too, so both take the locks in the same order and cannot deadlock.
        line_ids = [line.data.line_id for line in plan if line.data is not None]
        list(Entitlement.objects.select_for_update().filter(line_id__in=line_ids).order_by("pk").values_list("pk"))
        saved = []
        for line in plan:
            assert line.data is not None
            existing = Entitlement.objects.filter(line_id=line.data.line_id).first()
            saved.append(entitlement_save(actor=actor, data=line.data, entitlement=existing))
        return saved
