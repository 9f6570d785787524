"""Settings: one flat module, each value read from the environment.

Production-safe by default: DEBUG is off unless asked for, SECRET_KEY is required
outside development, and every bad value fails loudly at start-up.

With no DATABASE_URL an embedded PostgreSQL in ``AWU_DATA_DIR`` is used, and with
no CELERY_BROKER_URL a filesystem broker in the same directory: one machine, zero
setup. Setting either URL switches to the real server.
"""

from __future__ import annotations

from pathlib import Path

import environ

from awu.signin.group_map import parse_group_map as _parse_group_map

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# "development" relaxes exactly two things: a SECRET_KEY may be generated and kept
# in the data directory, and DEBUG may be turned on. Everything else is the same.
AWU_ENV = env.str("AWU_ENV", default="production")
if AWU_ENV not in {"production", "development", "test"}:
    raise environ.ImproperlyConfigured(
        f"AWU_ENV must be production, development or test, not {AWU_ENV!r}"
    )
DEVELOPMENT = AWU_ENV in {"development", "test"}

DATA_DIR = Path(env.str("AWU_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()

DEBUG = env.bool("DEBUG", default=False)
if DEBUG and not DEVELOPMENT:
    raise environ.ImproperlyConfigured("DEBUG is only allowed with AWU_ENV=development")

if DEVELOPMENT:
    from awu.runtime import development_secret_key

    SECRET_KEY = env.str("SECRET_KEY", default="") or development_secret_key(DATA_DIR)
else:
    SECRET_KEY = env.str("SECRET_KEY")  # required: raises ImproperlyConfigured when unset

# Key material for webhook secrets at rest (ledger.secrets); SECRET_KEY when unset.
AWU_SECRETS_KEY = env.str("AWU_SECRETS_KEY", default="")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # django.contrib.admin, whose site lets roles in (not is_staff): ledger.admin_site.
    "ledger.admin_apps.LedgerAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "rules",
    "ledger",
    "awu.definitions",
    "awu.scoring",
    "awu.reports",
    "awu.alerts",
    "integrations",
    "awu.ops",
    "awu.dashboard",
    "awu.signin",
]

# The dashboard's log-in (Django auth; the admin keeps its own).
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"

# --- Sign-in with the company's identity provider (OpenID Connect; docs/security.md) ---

# The provider's discovery document; empty turns OIDC sign-in off.
AWU_OIDC_METADATA_URL = env.str("AWU_OIDC_METADATA_URL", default="")
AWU_OIDC_CLIENT_ID = env.str("AWU_OIDC_CLIENT_ID", default="")
AWU_OIDC_CLIENT_SECRET = env.str("AWU_OIDC_CLIENT_SECRET", default="")
AWU_OIDC_SCOPES = env.str("AWU_OIDC_SCOPES", default="openid email profile")
# The ID token claim that lists the user's groups.
AWU_OIDC_GROUPS_CLAIM = env.str("AWU_OIDC_GROUPS_CLAIM", default="groups")
# Provider group -> roles: "awu-admins=superuser; awu-finance=staff,finance" (awu.signin.roles).
AWU_OIDC_GROUPS = _parse_group_map(env.str("AWU_OIDC_GROUPS", default=""))
AWU_OIDC_LABEL = env.str("AWU_OIDC_LABEL", default="Sign in with your company account")
# Seconds of clock difference allowed when checking an ID token's times.
AWU_OIDC_CLOCK_SKEW_SECONDS = env.int("AWU_OIDC_CLOCK_SKEW_SECONDS", default=60)
# false: nobody signs in with a local password (admin and dashboard); only OIDC.
AWU_PASSWORD_LOGIN = env.bool("AWU_PASSWORD_LOGIN", default=True)
# true: operator commands that change what the numbers mean need --as USER, a user
# holding the role the command needs (ledger.operators, docs/operations.md).
AWU_CLI_REQUIRE_USER = env.bool("AWU_CLI_REQUIRE_USER", default=False)
AUTHENTICATION_BACKENDS = [
    # Object permissions from roles scoped to teams (ledger.access's predicates).
    "rules.permissions.ObjectPermissionBackend",
    "awu.signin.backends.OidcSessionBackend",
    *(["django.contrib.auth.backends.ModelBackend"] if AWU_PASSWORD_LOGIN else []),
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Names the signed-in user or the API key as the actor of audit rows.
    "ledger.audit.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Benchmarks mount their baseline views beside the product's (bench/urls.py).
ROOT_URLCONF = env.str("AWU_ROOT_URLCONF", default="awu.urls")
WSGI_APPLICATION = "awu.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "awu" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "awu.signin.context.signin_options",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------

if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
else:
    from awu.runtime import embedded_database

    DATABASES = {"default": embedded_database(DATA_DIR)}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DATABASES["default"].setdefault("OPTIONS", {})
# Fail fast instead of hanging a request when the database is unreachable.
DATABASES["default"]["OPTIONS"].setdefault(
    "connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5)
)
# No JIT compilation: the reports' and scoring's queries are short plans with
# correlated subqueries whose cost estimates cross jit_above_cost, and compiling
# them cost more than running them (3.5 s of a 4.2 s read of a month's raw usage
# facts; BENCHMARKS.md, "JIT"). AWU_DB_JIT=true keeps the server's own setting.
if not env.bool("AWU_DB_JIT", default=False):
    _options = DATABASES["default"]["OPTIONS"].get("options", "")
    if "jit" not in _options:
        DATABASES["default"]["OPTIONS"]["options"] = f"{_options} -c jit=off".strip()
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="awu_test")}
# Optional streaming replica (hot standby): reports, listings, the dashboard and
# /metrics read from it (ledger.replica); in tests it mirrors the test database.
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db_url("DATABASE_REPLICA_URL")
    for _key in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "OPTIONS"):
        DATABASES["replica"].setdefault(_key, DATABASES["default"][_key])
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["ledger.replica.ReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(DATA_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Tests and development serve static files straight from the apps' folders.
WHITENOISE_USE_FINDERS = DEVELOPMENT
WHITENOISE_AUTOREFRESH = DEVELOPMENT

# --- Request limits ---------------------------------------------------------------

# The largest request body accepted anywhere (bytes). A batch of 1,000 events with
# ordinary attributes is well under 2 MiB; a bigger body is answered 413.
AWU_MAX_BODY_BYTES = env.int("AWU_MAX_BODY_BYTES", default=8 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = AWU_MAX_BODY_BYTES
AWU_MAX_BATCH_ITEMS = env.int("AWU_MAX_BATCH_ITEMS", default=1000)
# An occurred_at further in the future than this is a clock or unit error: invalid.
AWU_MAX_FUTURE_SKEW_SECONDS = env.int("AWU_MAX_FUTURE_SKEW_SECONDS", default=86400)
# How long a verified API key is trusted by one process before it is looked up
# again; bounds how long a revoked key keeps working in a running process.
AWU_API_KEY_CACHE_SECONDS = env.float("AWU_API_KEY_CACHE_SECONDS", default=5.0)
# The clock override for demos and tests (RFC 3339). Read only by ledger.clock.
AWU_NOW = env.str("AWU_NOW", default="")

# --- Security ---------------------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
# Behind TLS in production; the one-machine setup serves plain HTTP on loopback.
_TLS = env.bool("AWU_TLS", default=not DEVELOPMENT)
SESSION_COOKIE_SECURE = _TLS
CSRF_COOKIE_SECURE = _TLS
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_TLS)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _TLS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _TLS
SECURE_HSTS_PRELOAD = _TLS
if env.bool("AWU_BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Health probes come from load balancers over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# --- REST API ---------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["ledger.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["ledger.auth.HasScope"],
    "DEFAULT_RENDERER_CLASSES": ["ledger.http.OrjsonRenderer"],
    "DEFAULT_PARSER_CLASSES": [],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "ledger.http.ContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "ledger.http.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "AWU Ledger API",
    "DESCRIPTION": (
        "An append-only ledger of work events and token spend, scored into Agentic Work "
        "Units (AWUs). Authenticate with `Authorization: Bearer <key>`; each endpoint "
        "names the scope it needs. Errors share one shape: `type`, `detail` and, for "
        "validation errors, `errors` mapping a field path to its reasons."
    ),
    "VERSION": "1.0.0",
    # 3.1 is JSON Schema 2020-12, which the pydantic-generated schemas use.
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and docs are open: a stale key sent there is not checked.
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
    # Swagger UI and ReDoc are served from this server (no CDN at run time).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "ledger.openapi.postprocess",
    ],
}

# --- Celery -----------------------------------------------------------------------

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
if not CELERY_BROKER_URL:
    from awu.runtime import filesystem_broker

    CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker(DATA_DIR)
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = env.str("AWU_QUEUE", default="awu")
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# How often beat sweeps: closes windows that time has closed and picks up anything
# a lost wake-up left unscored.
AWU_SWEEP_SECONDS = env.float("AWU_SWEEP_SECONDS", default=60.0)
# A report refreshes the rollups first when a change is queued for them, or when
# their last refresh is older than this.
AWU_REPORTS_MAX_LAG_SECONDS = env.float("AWU_REPORTS_MAX_LAG_SECONDS", default=60.0)
# Historical durability behind projected_awus (docs/reports.md#maturity): units
# triggered in the last this many days that have settled...
AWU_REPORTS_DURABILITY_LOOKBACK_DAYS = env.int("AWU_REPORTS_DURABILITY_LOOKBACK_DAYS", default=180)
# ...and at least this many of them for a team's own rate (else the definition's).
AWU_REPORTS_DURABILITY_MIN_UNITS = env.int("AWU_REPORTS_DURABILITY_MIN_UNITS", default=20)
# A group with fewer work units or less priced spend than this is low_sample: shown,
# kept out of rankings and chart scaling (docs/reports.md#small-numbers).
AWU_REPORTS_LOW_SAMPLE_UNITS = env.int("AWU_REPORTS_LOW_SAMPLE_UNITS", default=5)
AWU_REPORTS_LOW_SAMPLE_USD = env.float("AWU_REPORTS_LOW_SAMPLE_USD", default=10.0)

# --- Logging ----------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# The task the ledger's outbox wakes after storing events (ledger.outbox).
AWU_OUTBOX_WAKE_TASK = env.str("AWU_OUTBOX_WAKE_TASK", default="awu.scoring.tasks.score_pending")
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=3.0)

# --- Budgets and alerts (docs/alerts.md) ---------------------------------------------

# How often beat evaluates the alert rules, and sweeps deliveries and digests that are due.
AWU_ALERTS_EVALUATE_SECONDS = env.float("AWU_ALERTS_EVALUATE_SECONDS", default=900.0)
AWU_ALERTS_SWEEP_SECONDS = env.float("AWU_ALERTS_SWEEP_SECONDS", default=60.0)
# AWUs per dollar alert: the drop (percent) over settled periods of this many weeks.
AWU_ALERTS_EFFICIENCY_DROP_PCT = env.float("AWU_ALERTS_EFFICIENCY_DROP_PCT", default=25.0)
AWU_ALERTS_EFFICIENCY_WEEKS = env.int("AWU_ALERTS_EFFICIENCY_WEEKS", default=4)
# Daily spend outliers: trailing days, k x MAD, dollar floor, days of history needed.
AWU_ALERTS_OUTLIER_DAYS = env.int("AWU_ALERTS_OUTLIER_DAYS", default=28)
AWU_ALERTS_OUTLIER_K = env.float("AWU_ALERTS_OUTLIER_K", default=5.0)
AWU_ALERTS_OUTLIER_FLOOR_USD = env.float("AWU_ALERTS_OUTLIER_FLOOR_USD", default=50.0)
AWU_ALERTS_OUTLIER_MIN_DAYS = env.int("AWU_ALERTS_OUTLIER_MIN_DAYS", default=14)
# Webhook deliveries: timeout, attempts before "failed", first retry delay (doubles).
AWU_ALERTS_WEBHOOK_TIMEOUT_SECONDS = env.float("AWU_ALERTS_WEBHOOK_TIMEOUT_SECONDS", default=5.0)
AWU_ALERTS_MAX_ATTEMPTS = env.int("AWU_ALERTS_MAX_ATTEMPTS", default=6)
AWU_ALERTS_RETRY_SECONDS = env.float("AWU_ALERTS_RETRY_SECONDS", default=30.0)
# The weekly digest: the UTC weekday (0 = Monday) and hour from which last week's is sent.
AWU_ALERTS_DIGEST_WEEKDAY = env.int("AWU_ALERTS_DIGEST_WEEKDAY", default=0)
AWU_ALERTS_DIGEST_HOUR = env.int("AWU_ALERTS_DIGEST_HOUR", default=7)
# Links in alerts and digests point here (the dashboard's public address).
AWU_PUBLIC_URL = env.str("AWU_PUBLIC_URL", default="http://localhost:8000")

# Email (alerts, digest): EMAIL_URL, e.g. smtp+tls://user:pass@smtp.example.com:587;
# the console backend (printed to the log) when unset.
_EMAIL = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _EMAIL["EMAIL_BACKEND"]
EMAIL_HOST = _EMAIL.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = _EMAIL.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _EMAIL.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _EMAIL.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = bool(_EMAIL.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL = bool(_EMAIL.get("EMAIL_USE_SSL"))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="awu-ledger@localhost")
