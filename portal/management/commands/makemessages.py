"""``makemessages`` that also collects ``deferred("...")`` messages (portal/i18n.py)."""

from __future__ import annotations

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options, "--keyword=deferred"]
