"""Every setting of the server, read once from the environment (prefix ``FOCUSHUB_``).

Nothing else in the code base reads ``os.environ``. Defaults suit a laptop; a
production deployment sets ``FOCUSHUB_ENV=production`` and must then provide the
database URL and the JWT secret explicitly (see :meth:`Settings.check_production`).
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from focushub.core.ratelimit import Rate, RateSetting

# What deploy/systemd/focushub.env.example writes in place of every secret.
PLACEHOLDER = "CHANGE-ME"

# What every driver here (asyncpg, psycopg, libpq's pg_dump) reads as a PostgreSQL URL.
_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg")


def check_postgres_url(value: str | None) -> str | None:
    """``value`` if it is a PostgreSQL URL; otherwise a ValueError that says why without
    repeating the URL (it may hold a password)."""
    if not value:
        return value
    try:
        url = make_url(value)
    except Exception:
        raise ValueError("not a URL of the form "
                         "postgresql://user:password@host:port/database") from None
    if url.drivername not in _POSTGRES_SCHEMES:
        raise ValueError(f"must start with postgresql:// (not {url.drivername}://)")
    if url.port is not None and not 0 < url.port < 65536:
        raise ValueError(f"port {url.port} is not a TCP port")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FOCUSHUB_", extra="ignore")

    env: Literal["development", "production", "test"] = "development"

    # Database. Unset: an embedded PostgreSQL is started in ``data_dir``.
    database_url: str | None = None
    # Used for migrations only (needs to own the schema). Defaults to database_url.
    migration_database_url: str | None = None
    # PostgreSQL itself when database_url names a transaction-pooling proxy (PgBouncer with
    # pool_mode = transaction, Supavisor's port 6543): LISTEN needs a session of its own, so
    # the event bus and the job workers' wake-up listener connect here. Unset: database_url.
    direct_database_url: str | None = None
    # Prepared statement caches of asyncpg (requests) and psycopg (jobs). Off behind a
    # transaction pooler that does not carry prepared statements between transactions
    # (PgBouncer before 1.21, or with max_prepared_statements = 0): statements are then
    # unnamed and parsed again on every execution, one more round trip each.
    db_statement_cache: bool = True
    data_dir: Path = Path(".focushub")
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    # The hot paths' own connections (direct transactions, core/pool.py), per process, on
    # top of the engine's db_pool_size + db_max_overflow.
    db_hot_pool_size: int = Field(default=10, ge=1, le=200)
    # Seconds to wait for the embedded server to finish crash recovery and accept connections.
    embedded_start_timeout: float = Field(default=600.0, gt=0)

    # Tokens. Unset secret: one is generated and kept in data_dir (development only).
    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "focushub"
    access_token_ttl_seconds: int = Field(default=900, ge=30)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    email_token_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    password_reset_ttl_seconds: int = Field(default=3600, ge=60)
    # Password hashing (argon2id): passes, memory per hash and lanes. The defaults are
    # RFC 9106's second profile; production refuses less than OWASP's lowest (t=2, 19 MiB).
    password_time_cost: int = Field(default=3, ge=1, le=32)
    password_memory_kib: int = Field(default=65536, ge=64, le=4 * 1024 * 1024)
    password_parallelism: int = Field(default=4, ge=1, le=8)  # argon2: 8 KiB per lane at least

    # Outgoing mail. Unset: messages stay in the outbox table and are logged.
    smtp_url: str | None = None
    mail_from: str = "Focus Hub <no-reply@localhost>"
    public_base_url: str = "http://127.0.0.1:8000"

    # Realtime fan-out between server processes: Redis pub/sub when set,
    # otherwise PostgreSQL LISTEN/NOTIFY (no extra service).
    redis_url: str | None = None
    # permessage-deflate on WebSockets. Off: chat frames are small JSON, and each compressed
    # socket keeps zlib state in both directions (bench/school.py measured the memory per
    # idle socket with and without it; docs/performance.md).
    ws_compression: bool = False
    # uvicorn's WebSocket implementation, named rather than left to uvicorn's "auto" (which
    # picks websockets-sansio in the pinned uvicorn, and wsproto if websockets is missing).
    # The sans-I/O one, against uvicorn's legacy "websockets": less server CPU per chat
    # message and less memory per idle socket (docs/performance.md, round eight).
    ws_protocol: Literal["websockets-sansio", "websockets", "wsproto"] = "websockets-sansio"

    # Background jobs (procrastinate on PostgreSQL). ``focushub serve`` runs a worker in
    # each server process unless this is off (then run ``focushub worker``).
    worker_in_process: bool = True
    worker_concurrency: int = Field(default=2, ge=1, le=64)
    job_pool_size: int = Field(default=4, ge=2, le=64)
    # Seconds a stopping worker lets running jobs finish before cutting them off.
    worker_shutdown_timeout: float = Field(default=30.0, ge=0)
    # Maintenance: room events older than this are pruned (a client resuming from
    # before it reloads the room); finished jobs are kept this long for inspection.
    realtime_event_retention_days: int = Field(default=30, ge=1)
    job_retention_days: int = Field(default=7, ge=1)

    # File storage. Unset URL: files live under data_dir/files. ``s3://bucket[/prefix]``:
    # any S3-compatible store (endpoint, region and keys below, or boto3's own defaults).
    storage_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    # Per-user total of stored files; admins are not limited.
    storage_quota_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024)

    # Account export (GET /api/v1/users/me/export): an account with more rows than this
    # (counted up to this number per kind) or more uploaded bytes gets its zip from the
    # accounts.export job (202 and a status URL) instead of in the response.
    export_sync_max_rows: int = Field(default=10_000, ge=0)
    export_sync_max_bytes: int = Field(default=100 * 1024 * 1024, ge=0)
    # How long an export made by the job can be downloaded; then accounts.expire_exports
    # deletes it.
    export_expiry_hours: int = Field(default=7 * 24, ge=1)

    # AI answers. Unset base URL: the offline provider (extractive, no network, no model).
    # Any OpenAI-compatible Chat Completions endpoint otherwise (Groq, OpenAI, Ollama, vLLM).
    ai_base_url: str | None = None
    ai_model: str = "llama-3.1-8b-instant"
    ai_api_key: SecretStr | None = None
    ai_timeout_seconds: float = Field(default=30.0, gt=0)
    ai_max_tokens: int = Field(default=600, ge=16, le=8192)
    ai_daily_limit: int = Field(default=20, ge=0)
    # Ask for an AI answer for every new question.
    ai_auto_answer: bool = False
    # With a model: answer from general knowledge when the platform has nothing relevant
    # (the answer says so, and its confidence is capped at 0.3). Otherwise abstain.
    ai_allow_general_knowledge: bool = False
    # AI answers below this confidence come last and are marked collapsed.
    ai_min_confidence_shown: float = Field(default=0.3, ge=0, le=1)

    # Browsers on these origins may call the API with credentials (CORS); none by default.
    # A JSON list, e.g. ["https://app.example.org"].
    cors_origins: list[str] = Field(default_factory=list)
    # Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed
    # (comma-separated, or "*"). Empty: none, so no client can choose its own address.
    trusted_proxies: str = ""

    # Request limits.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    # Rate limits, shared by every process (in Redis when configured, else PostgreSQL),
    # written COUNT/SECONDS: that many at once, then one every SECONDS/COUNT.
    # Sign-in: one address trying one account; one address trying many accounts (a
    # classroom behind one address still signs in); one account tried from anywhere.
    rate_login: RateSetting = Rate(10, 60)
    rate_login_address: RateSetting = Rate(60, 300)
    rate_login_account: RateSetting = Rate(20, 900)
    # Sign-up per address: a class of 60 at once, then one a minute, at most 300 a day.
    rate_signup_address: RateSetting = Rate(60, 3600)
    rate_signup_address_daily: RateSetting = Rate(300, 86400)
    # Verification and password-reset mail: per address and email, and per email.
    rate_mail: RateSetting = Rate(5, 300)
    rate_mail_account: RateSetting = Rate(10, 3600)
    # Account exports built within the request, per account (GET /users/me/export and the
    # account page): each reads up to export_sync_max_bytes of uploads into a temporary zip
    # and sends it, so in a loop or in parallel they filled the disk and the network.
    rate_export: RateSetting = Rate(5, 3600)
    # Writes, per account (focushub/safety/limits.py): new accounts (younger than this many
    # days, or with an unconfirmed email) get the _NEW_ rates; administrators none.
    write_limits_enabled: bool = True
    new_account_days: int = Field(default=3, ge=0)
    write_rate_new_post: RateSetting = Rate(5, 3600)
    write_rate_post: RateSetting = Rate(30, 3600)
    write_rate_new_comment: RateSetting = Rate(20, 3600)
    write_rate_comment: RateSetting = Rate(120, 3600)
    write_rate_new_question: RateSetting = Rate(5, 3600)
    write_rate_question: RateSetting = Rate(30, 3600)
    write_rate_new_answer: RateSetting = Rate(20, 3600)
    write_rate_answer: RateSetting = Rate(120, 3600)
    write_rate_new_message: RateSetting = Rate(20, 60)
    write_rate_message: RateSetting = Rate(60, 60)
    write_rate_new_room: RateSetting = Rate(3, 3600)
    write_rate_room: RateSetting = Rate(20, 3600)
    write_rate_new_follow: RateSetting = Rate(20, 3600)
    write_rate_follow: RateSetting = Rate(200, 3600)
    write_rate_new_upload: RateSetting = Rate(10, 3600)
    write_rate_upload: RateSetting = Rate(60, 3600)
    # Requests for AI answers (each may cost a model call), besides the daily
    # ai_daily_limit that holds for everyone.
    write_rate_new_ai_answer: RateSetting = Rate(3, 3600)
    write_rate_ai_answer: RateSetting = Rate(10, 3600)
    # Reports: each puts its target in the moderation queue, and a few hide it there.
    write_rate_new_report: RateSetting = Rate(10, 3600)
    write_rate_report: RateSetting = Rate(30, 3600)
    # People one post, comment, question or answer may mention (existing accounts other
    # than the author); more is refused (422). The database notifies at most 20 per text.
    mentions_per_post_new: int = Field(default=3, ge=0)
    mentions_per_post: int = Field(default=10, ge=0)

    log_level: str = "INFO"
    # "json": one JSON object per line (request id, user id, route, status, duration).
    log_format: Literal["text", "json"] = "text"
    # When set, /metrics answers only to "Authorization: Bearer <token>".
    metrics_token: SecretStr | None = None
    # FastAPI's own OpenTelemetry instrumentation (spans and metrics per request, through the
    # providers the OpenTelemetry SDK configures). Off, a request does not ask for those
    # providers at all; Focus Hub's metrics are Prometheus's, at /metrics.
    otel: bool = False

    # Checked when read, so that a mistyped URL is named as the setting it is, not met as
    # a driver's traceback by whichever command connects first.
    _database_urls = field_validator(
        "database_url", "migration_database_url", "direct_database_url")(check_postgres_url)

    def listen_database_url(self) -> str | None:
        """Where sessions that LISTEN connect: ``direct_database_url``, else ``database_url``."""
        return self.direct_database_url or self.database_url

    def resolved_jwt_secret(self) -> str:
        """The HS256 signing key; in development a random one persisted in ``data_dir``."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        path = self.data_dir / "jwt_secret"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        path.write_text(value)
        path.chmod(0o600)
        return value

    def check_production(self) -> list[str]:
        """Problems that make these settings unfit for production; empty when fine."""
        problems: list[str] = []
        if self.env != "production":
            return problems
        if not self.database_url:
            problems.append("FOCUSHUB_DATABASE_URL must be set in production")
        if self.jwt_secret is None or len(self.jwt_secret.get_secret_value()) < 32:
            problems.append("FOCUSHUB_JWT_SECRET must be set to at least 32 characters in production")
        # The statement cache is off only behind a transaction pooler, where a LISTEN hears
        # nothing (its server session goes back to the pool after the statement): without
        # a direct URL, realtime events and the workers' wake-ups were silently lost.
        if not self.db_statement_cache and not self.direct_database_url:
            problems.append("FOCUSHUB_DB_STATEMENT_CACHE=false says FOCUSHUB_DATABASE_URL is a "
                            "transaction pooler: set FOCUSHUB_DIRECT_DATABASE_URL to PostgreSQL "
                            "itself, where LISTEN keeps its session")
        # The example environment file's placeholders are public: a server signing with its
        # JWT secret accepts anyone's forged admin token.
        for name, secret in (("JWT_SECRET", self.jwt_secret), ("METRICS_TOKEN", self.metrics_token)):
            if secret is not None and PLACEHOLDER in secret.get_secret_value().upper():
                problems.append(f"FOCUSHUB_{name} is still the example's {PLACEHOLDER} placeholder:"
                                " set a random value")
        if self.password_time_cost < 2 or self.password_memory_kib < 19456:
            problems.append("FOCUSHUB_PASSWORD_TIME_COST must be at least 2 and "
                            "FOCUSHUB_PASSWORD_MEMORY_KIB at least 19456 in production")
        return problems


@lru_cache
def get_settings() -> Settings:
    return Settings()
