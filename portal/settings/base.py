"""Settings shared by every environment.

Values come from environment variables (django-environ). The variables and their embedded
defaults are part of the product's stable interface: see DESIGN.md, "Configuration".
Production-only requirements (secret key, allowed hosts) live in ``production.py`` and have
no defaults there, so a misconfigured deployment fails at start-up.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(environ.Env().str("PORTAL_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    env.read_env(str(BASE_DIR / ".env"))

DEBUG = env.bool("DJANGO_DEBUG", default=False)

# --- Product settings -------------------------------------------------------------------

PORTAL_BRAND_NAME = env.str("PORTAL_BRAND_NAME", default="License Portal")
# How long a rendered page fragment may stay in the cache (portal/fragments.py). Fragments are
# keyed by the customer's data version, so this bounds memory, not staleness; 0 turns it off.
PORTAL_FRAGMENT_CACHE_SECONDS = env.int("PORTAL_FRAGMENT_CACHE_SECONDS", default=600)
PORTAL_SUPPORT_EMAIL = env.str("PORTAL_SUPPORT_EMAIL", default="support@example.com")
# Where the reseller's daily renewals digest goes (lines ending in 90/30/7 days).
RESELLER_DIGEST_EMAIL = env.str("RESELLER_DIGEST_EMAIL", default=PORTAL_SUPPORT_EMAIL)
# Reminders go out from this hour (TIME_ZONE) on; beat's hourly runs before it do nothing.
NOTICES_DAILY_RUN_HOUR = env.int("NOTICES_DAILY_RUN_HOUR", default=6)
PORTAL_VENDOR_DAEMON = env.str("PORTAL_VENDOR_DAEMON", default="ansyslmd")
# Absolute base of links in emails (a Celery worker has no request to build them from).
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
LICENSE_SIGNING_KEY_FILE = Path(env.str("LICENSE_SIGNING_KEY_FILE", default=str(VAR_DIR / "license-signing-key.pem")))
# The customer API (issue 16): requests per token per window, and whether webhooks may go to
# private/loopback addresses and plain HTTP (never in production: SSRF; tests only).
PORTAL_API_RATE_LIMIT = env.int("PORTAL_API_RATE_LIMIT", default=600)
PORTAL_API_RATE_WINDOW = env.int("PORTAL_API_RATE_WINDOW", default=60)
PORTAL_WEBHOOK_ALLOW_PRIVATE = False
# Support staff must have a second factor before the support console opens (on in production;
# off for `make run` and the tests unless a test turns it on).
PORTAL_STAFF_MFA_REQUIRED = env.bool("PORTAL_STAFF_MFA_REQUIRED", default=False)
# The public half, for a machine that only verifies (`manage.py verify_license`); unset: derived
# from the signing key file if it exists. Verifying never creates a key.
LICENSE_PUBLIC_KEY_FILE = env.str("LICENSE_PUBLIC_KEY_FILE", default="") or None
# Moves of licenses to another host ID (rehosts, and licenses returned on one server and
# activated on another) allowed per customer in a rolling 12 months; support may set it per customer.
PORTAL_REHOSTS_PER_YEAR = env.int("PORTAL_REHOSTS_PER_YEAR", default=3)

# The entitlements page shows, per line, what its measured use recommends (usage app).
PORTAL_ENTITLEMENT_RECOMMENDATIONS = "usage.selectors.entitlement_recommendations"
# Demo data of apps above activations, run at the end of seed_demo (usage: a month of usage for 1001234).
PORTAL_DEMO_SEEDERS = ["usage.demo.seed_usage_demo", "notices.demo.seed_notices_demo"]

# --- Django core ------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "csp",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "portal",
    "accounts",
    "entitlements",
    "activations",
    "ninja",
    "api",
    "usage",
    "notices",
    "support",
]

MIDDLEWARE = [
    # First: times the whole request, sets the request id (X-Request-ID) for every log line.
    "portal.requestlog.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.csp.CSPMiddleware",  # django-csp's, the ordinary policy built once
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.language.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "accounts.console.StaffMFARequiredMiddleware",
    "accounts.middleware.AuditContextMiddleware",
    "portal.middleware.DatabaseUnavailableMiddleware",
    "portal.middleware.PortalNotFoundMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
                "accounts.context_processors.customers",
                "notices.context_processors.bell",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)


def prepared_statements(database: dict) -> dict:
    """PostgreSQL: allows the statements run through ``portal.db.prepared_cursor`` (the API
    token lookup) to be prepared, i.e. planned once per connection. The ORM's statements are
    not affected (client-side binding, never prepared: psycopg prepares on its own only with
    server-side binding, which is off). ``DATABASE_PREPARED_STATEMENTS=0`` turns it off, for a
    pooler in transaction mode that cannot carry prepared statements between clients."""
    if database.get("ENGINE") == "django.db.backends.postgresql" and env.bool(
        "DATABASE_PREPARED_STATEMENTS", default=True
    ):
        database.setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)
    return database


prepared_statements(DATABASES["default"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

# --- Cache and background work ----------------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    # django-redis rather than Django's RedisCache: it keeps one client per process instead of
    # building one (and its ~170 response callbacks) for every cache call (docs/performance.md).
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
# Without Redis there is no worker: tasks run in-process, right away.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Workers log through Django's LOGGING (JSON in production, with the request id of the request
# that queued the task) instead of replacing the root logger with their own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A broker outage must not hold a user's request: publishing fails fast and the outbox
# sweep (below) delivers the notification once the broker is back.
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 2}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "notifications-send-pending": {
        "task": "accounts.tasks.notifications_send_pending",
        "schedule": timedelta(seconds=30),
    },
    "webhook-deliveries-send-due": {
        "task": "api.tasks.webhook_deliveries_send_due",
        "schedule": timedelta(seconds=30),
    },
    # Reminders, digests and the reseller's digest: idempotent, so hourly means a missed or
    # restarted beat costs at most an hour, never a reminder (notices/services.py).
    "notices-daily": {
        "task": "notices.tasks.notices_daily_run",
        "schedule": timedelta(hours=1),
    },
    # The bell shows the outbox's emails (activations, user changes) too.
    "notices-outbox-mirror": {
        "task": "notices.tasks.notices_outbox_mirror",
        "schedule": timedelta(seconds=60),
    },
    "elastic-budget-alerts": {
        "task": "entitlements.licensing_tasks.elastic_budget_alerts_check",
        "schedule": timedelta(hours=1),
    },
    "usage-retention": {
        "task": "usage.tasks.usage_retention_enforce",
        "schedule": timedelta(hours=6),
    },
    "support-emergency-requests-expired": {
        "task": "support.tasks.emergency_requests_expired_close",
        "schedule": timedelta(hours=1),
    },
    "usage-uploads-sweep": {
        "task": "usage.tasks.usage_uploads_sweep",
        "schedule": timedelta(minutes=2),
    },
}
# A notification left unsent this long is picked up by the periodic sweep.
PORTAL_NOTIFICATION_SWEEP_AFTER = timedelta(seconds=20)

# --- Email ------------------------------------------------------------------------------

vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=f"{PORTAL_BRAND_NAME} <noreply@example.com>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = 10

# --- django-allauth ---------------------------------------------------------------------

ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_FORMS = {"login": "accounts.forms.LoginForm", "reset_password": "accounts.forms.PasswordResetForm"}
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
# Sign-up also asks for a name and, optionally, a company (shown on the users page).
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.signup.SignupExtraForm"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
# An address is verified only by a code typed into the session that signed up or added it
# (allauth then registers no confirmation-link URL at all). A link could be opened by the
# address's owner for an account whose password someone else chose, handing that account the
# owner's invitations (issue 12, docs/security.md).
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True
# Login by emailed code would verify an address for whoever set the account's password: off.
ACCOUNT_LOGIN_BY_CODE_ENABLED = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
# Changing email addresses (and MFA, allauth's default) needs a fresh password entry.
ACCOUNT_REAUTHENTICATION_REQUIRED = True
ACCOUNT_REAUTHENTICATION_TIMEOUT = 300
MFA_REAUTHENTICATION_REQUIRED = True
ACCOUNT_RATE_LIMITS = {
    # allauth's defaults, stated so the limits are visible and reviewed.
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "signup": "20/m/ip",
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "confirm_email": "1/3m/key",
    # The license file checker (activations.views.VerifyView): every POST parses a file and
    # checks an Ed25519 signature per line, so it is bounded per user and per address.
    "license_verify": "10/m/user,100/h/user,30/m/ip",
}
# X-Forwarded-For is trusted only for as many proxies as the deployment declares (default:
# none, so rate limits key on the real peer address and cannot be dodged by a forged header).
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("ALLAUTH_TRUSTED_PROXY_COUNT", default=0)
ACCOUNT_EMAIL_SUBJECT_PREFIX = f"[{PORTAL_BRAND_NAME}] "
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = PORTAL_BRAND_NAME
USERSESSIONS_TRACK_ACTIVITY = False

# --- Internationalisation ---------------------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("tr", _("Turkish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["portal.formats"]
TIME_ZONE = "Europe/Istanbul"
USE_I18N = True
USE_TZ = True
LANGUAGE_COOKIE_AGE = 60 * 60 * 24 * 365

# --- Static files -----------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Uploads ----------------------------------------------------------------------------

# License files and CSV imports are small; anything larger is refused before parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# The activation table posts up to three fields per FlexNet line (quantity, reviewed quantity,
# borrowable): Django's default of 1,000 fields refused customers with more than 333 lines.
# The 5 MB body limit above still bounds what a request can make the server parse.
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("DATA_UPLOAD_MAX_NUMBER_FIELDS", default=40_000)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
PORTAL_MAX_UPLOAD_BYTES = 2 * 1024 * 1024
# A license file pasted or uploaded to the checker (a 1,000-line file is about 300 KB).
PORTAL_VERIFY_MAX_BYTES = env.int("PORTAL_VERIFY_MAX_BYTES", default=512 * 1024)

# --- Security defaults that hold everywhere ---------------------------------------------

X_FRAME_OPTIONS = "DENY"
# No inline script anywhere (allauth's inline blocks are JSON data, which CSP does not run).
# img-src allows data: for the TOTP QR code allauth renders as a data URI.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False

# --- Operations: logs, metrics, error reporting (docs/operations.md) ----------------------

# "json" in production (one JSON object a line: request id, user id, customer number, ...),
# "text" for people at a terminal.
PORTAL_LOG_FORMAT = env.str("PORTAL_LOG_FORMAT", default="text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "portal.requestlog.ContextFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "portal.requestlog.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(user_id)s %(customer_number)s",
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context"],
            "formatter": "json" if PORTAL_LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        # The portal writes its own request line (portal.request) without raw paths.
        "django.server": {"level": "WARNING"},
    },
}

# /metrics answers only with "Authorization: Bearer <this>"; unset, the endpoint is absent.
PORTAL_METRICS_TOKEN = env.str("PORTAL_METRICS_TOKEN", default="")
# Celery queues whose length /metrics reports (Redis LLEN).
PORTAL_METRICS_CELERY_QUEUES = env.list("PORTAL_METRICS_CELERY_QUEUES", default=["celery"])

# /readyz answers 503 when Redis is down unless this is false (then 200 "degraded").
PORTAL_READYZ_REDIS_REQUIRED = env.bool("PORTAL_READYZ_REDIS_REQUIRED", default=True)

# Error reporting: on when SENTRY_DSN is set (portal/sentry.py); off otherwise.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
