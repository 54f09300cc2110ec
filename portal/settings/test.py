"""The test suite. PostgreSQL by default (concurrency tests need real row locks)."""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import VAR_DIR, env, prepared_statements

SECRET_KEY = "test-only-key"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
DATABASES = {
    "default": prepared_statements(env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/portal")),
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tests run tasks in-process unless a test starts a real worker (tests/accounts/test_worker.py).
CELERY_TASK_ALWAYS_EAGER = True
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
LICENSE_SIGNING_KEY_FILE = VAR_DIR / "test-license-signing-key.pem"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Webhook tests deliver to real receivers on loopback (production refuses them: SSRF).
PORTAL_WEBHOOK_ALLOW_PRIVATE = True
