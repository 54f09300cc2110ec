"""Shared Web and Elastic licensing: the second product inside ``entitlements``.

A package of ``entitlements`` rather than an app of its own: its models (``SharedWebUser``,
``SharedWebGroup``, ``SeatAssignment``, ``ElasticAccount``, ``ElasticUsage``, ``BudgetAlert``)
stay in ``entitlements/models.py`` because their migrations and their foreign keys to
``Entitlement`` and ``Product`` live there, and moving models between apps would rewrite
migration history that other branches are adding to. Everything else is here, with the
same layers as an app (docs/architecture.md): ``selectors`` (reads), ``services`` (writes),
``forms``, ``views`` + ``urls`` (``/c/<n>/settings/``), ``charts`` (SVG layout), ``admin``
(support console pages), ``tasks`` and ``demo``.

Dependencies point one way: ``entitlements.licensing`` -> ``entitlements`` (models,
selectors) -> ``accounts`` -> ``portal``; nothing in ``entitlements`` outside this package
imports it, except ``entitlements/admin.py`` and ``entitlements/tasks.py``, which load it
for Django's and Celery's autodiscovery.
"""
