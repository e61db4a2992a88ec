"""leadqual settings: one module, every knob from the environment.

With no variables set this is the embedded default (SQLite file, Celery on
kombu's filesystem transport, DEBUG on). With DEBUG off, the values a
production deployment must choose (SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL)
are required and the process refuses to start without them.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)


def _required(name: str, dev_default: str) -> str:
    """A value production must set explicitly; the embedded run gets a dev default."""
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(f"{name} must be set when DEBUG is off.")


SECRET_KEY = _required("SECRET_KEY", "django-insecure-embedded-default-only-for-local-runs")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_celery_beat",
    "simple_history",
    "axes",
    "csp",
    "django_countries",
    "phonenumber_field",
    "leads",
    "scoring",
    "segments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Axes must be last: it reads the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "leadqual.urls"
WSGI_APPLICATION = "leadqual.wsgi.application"
ASGI_APPLICATION = "leadqual.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'leadqual.sqlite3'}"),
}
if not DEBUG and "DATABASE_URL" not in env.ENVIRON:
    raise ImproperlyConfigured("DATABASE_URL must be set when DEBUG is off.")
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # JIT compiles every big scoring statement anew (2.3 of 2.8 s on a 20k-lead
    # chunk, measured): our queries are short and many, so it only costs.
    # random_page_cost 1.1 (SSD storage): lets the planner fetch a 50k-lead chunk's BANT and
    # company rows by index instead of hashing whole tables (1.67 -> 0.94 s per chunk at 1M leads).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "options", env.str("PG_OPTIONS", default="-c jit=off -c random_page_cost=1.1")
    )
else:
    # SQLite: wait for a concurrent writer (web + worker) instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL;"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache --------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth ---------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "pages:login"
LOGIN_REDIRECT_URL = "pages:home"
LOGOUT_REDIRECT_URL = "pages:login"
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.int("AXES_COOLOFF_HOURS", default=1)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# The API's JSON error body under /api/, axes' plain message elsewhere.
AXES_LOCKOUT_CALLABLE = "leadqual.exceptions.lockout_response"

# --- I18n ---------------------------------------------------------------------
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", _("English")), ("pl", _("Polish")), ("ru", _("Russian"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
PHONENUMBER_DEFAULT_FORMAT = "E164"

# --- Static files ---------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=VAR_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# Chart.js for the analytics page, installed by npm from package-lock.json (make run / make test, the
# Dockerfile) and served as static/vendor/chart.js/. Without it (npm not run) the page shows only its tables.
CHARTJS_DIST = BASE_DIR / "node_modules" / "chart.js" / "dist"
if CHARTJS_DIST.is_dir():
    STATICFILES_DIRS.append(("vendor/chart.js", CHARTJS_DIST))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- REST framework -----------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: an anonymous request then gets 401 with WWW-Authenticate, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "leadqual.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("API_THROTTLE_USER", default="3000/minute"),
        "anon": env.str("API_THROTTLE_ANON", default="60/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "leadqual API",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    "DESCRIPTION": "Leads, BANT qualification, engagement events, scores and rules. Every error has one body: "
    '{"detail": str, "code": str, "errors": {field: [messages]}}.',
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery -------------------------------------------------------------------
if REDIS_URL:
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Tasks are short; unacked work from a dead worker comes back after this.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
        "unacked_restore_throttle": env.float("CELERY_UNACKED_RESTORE_THROTTLE", default=100.0),
    }
else:
    _broker_dir = VAR_DIR / "celery-broker"
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="leadqual")
# Routing runs on its own queue: a long bulk routing job never holds up scoring, and
# each can get its own workers. A worker for both: `celery worker -Q <default>,<routing>`.
LEADQUAL_ROUTING_QUEUE = env.str("LEADQUAL_ROUTING_QUEUE", default=f"{CELERY_TASK_DEFAULT_QUEUE}-routing")
# Webhook deliveries wait on other people's servers: the default queue, never the routing one.
CELERY_TASK_ROUTES = {
    "segments.webhooks.*": {"queue": CELERY_TASK_DEFAULT_QUEUE},
    "segments.*": {"queue": LEADQUAL_ROUTING_QUEUE},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Messages a worker process holds ready. With acks_late a held message is unacknowledged,
# so a killed worker still loses nothing (Redis hands it out again).
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=1)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Security -----------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
    },
}

# --- Logging ------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# --- leadqual -------------------------------------------------------------------
# Leads per chunk of a bulk rescore: one short transaction each.
SCORING_CHUNK_SIZE = env.int("SCORING_CHUNK_SIZE", default=50000)
# Leads per chunk of a bulk routing job: one short transaction each. Each chunk reads the score,
# qualification and company rows of its leads; at 20,000 the planner hashes whole tables per
# chunk, so fewer, larger chunks read them fewer times. A chunk stays a few seconds.
ROUTING_CHUNK_SIZE = env.int("ROUTING_CHUNK_SIZE", default=50000)
# Connections a bulk routing job works on (PostgreSQL): with 2, a chunk's reading (the segment
# CASE) runs while the chunk before it writes; its writes still wait their turn. A 1,000,000-lead
# reroute took 17-18 s in 2 lanes, 28-29 s in one (bench.segments_bench). 1: one chunk after another.
ROUTING_LANES = env.int("ROUTING_LANES", default=2)
# Countries/regions a phone number without a country code is read in, when the
# lead's company gives no country.
LEADQUAL_DEFAULT_PHONE_REGION = env.str("LEADQUAL_DEFAULT_PHONE_REGION", default="US")

# Outbound webhooks: per-attempt timeout, attempts in all, exponential backoff (base, 2x, 4x ..., capped;
# keep the cap far below CELERY_VISIBILITY_TIMEOUT, or Redis hands the waiting retry out twice).
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=6)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=900.0)
# Public capture forms: submissions per client address (REMOTE_ADDR) per hour, counted in the cache.
CAPTURE_RATE_LIMIT_PER_HOUR = env.int("CAPTURE_RATE_LIMIT_PER_HOUR", default=20)

# Periodic work (django-celery-beat installs these in its database schedule).
CELERY_BEAT_SCHEDULE = {
    # The safety net: rescore any lead whose score is missing or older than the
    # lead; resume a bulk job whose worker died.
    "scoring-sweep-stale": {
        "task": "scoring.sweep_stale_scores",
        "schedule": env.float("SCORING_SWEEP_SECONDS", default=60.0),
    },
    # Engagement windows move every day: re-evaluate everyone so points decay.
    "scoring-daily-decay": {"task": "scoring.apply_decay", "schedule": 24 * 3600.0},
    # An import whose task message was lost (Redis restarted) is picked up again.
    "leads-resume-stalled-imports": {"task": "leads.resume_stalled_imports", "schedule": 120.0},
    # A bulk routing job whose worker died (or whose task Redis lost) resumes from its cursor.
    "segments-resume-stalled-routing": {
        "task": "segments.resume_stalled_routing_jobs",
        "schedule": env.float("ROUTING_RESUME_SECONDS", default=120.0),
    },
    # A webhook delivery whose task message was lost is sent again.
    "segments-resume-webhook-deliveries": {"task": "segments.webhooks.resume", "schedule": 120.0},
}
