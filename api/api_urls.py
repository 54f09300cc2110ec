"""/api/v1/: ninja's routes, each answering with the rate-limit headers."""

from __future__ import annotations

from .http import with_rate_headers
from .v1 import api

patterns, app_name, namespace = api.urls
for pattern in patterns:
    pattern.callback = with_rate_headers(pattern.callback)

urlpatterns = patterns
