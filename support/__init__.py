"""The reseller's cockpit (``/support/``): where support staff work.

- **Staff roles.** Support agents and support managers, a matrix beside the customer one
  (``accounts.roles.StaffRole`` / ``StaffPermission`` / ``STAFF_ROLE_PERMISSIONS``). A staff
  account holds a role through the Django group of that name; superusers are managers. Every
  cockpit view declares ``required_staff_permission``; ``SupportViewMixin`` decides through
  ``has_staff_permission`` (403 + audit otherwise) and services through
  ``accounts.access.authorize_staff(permission=...)``. In production every staff account
  must have MFA (``PORTAL_STAFF_MFA_REQUIRED``).
- **See as customer.** A POST from a customer's 360 page (``support.services.view_as_start``)
  puts a flag in the staff session naming one customer and one role. ``CustomerViewMixin``
  then builds that role's ``CustomerAccess`` for the customer (``support_view=True``): the
  pages show what that role sees, under a banner, each page view is audited for the
  customer (its ASC reads it in the audit log), and every non-GET request is refused with
  403 (audited) before any view code runs. The banner's button ends it (``view_as_end``).
- **Home page and queues** (``support.selectors.QUEUES``): counts that need a person, each
  linking to its list; one COUNT query per queue, whatever the number of customers. The
  sustained-denials queue reads the usage app's hours when ``usage`` is installed.
- **Customer 360** (``/support/customers/<n>/``): members, invitations, servers, latest
  files, renewals, recent audit; actions through the existing services (``asc_designate``,
  ``customer_update``), entitlement imports linked in the support console.

Dependencies: ``support`` sits at the top (``support -> activations -> entitlements ->
accounts -> portal``); nothing below imports it.
"""
