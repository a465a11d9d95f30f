"""One settings object for the functions and the workers (env prefix OPENPARTY_).

Secrets have no defaults. A secret that is set to a placeholder fails at
startup; a secret that is missing disables only what needs it (that endpoint
answers 503), so the local stack runs with none configured.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal, Self

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from openparty.plans import PaidPlan

PLACEHOLDERS = {"changeme", "change-me", "placeholder", "xxx", "todo", "secret", "your-secret-here"}


class Settings(BaseSettings):
    # Nested values from the environment: OPENPARTY_STRIPE_PRICES__PREMIUM=price_...
    # Inputs stay out of validation errors: URLs and secrets carry passwords.
    model_config = SettingsConfigDict(env_prefix="OPENPARTY_", env_file=".env", extra="ignore",
                                      env_nested_delimiter="__", hide_input_in_errors=True)

    # Postgres. DATABASE_URL is the owner's connection (migrations); the edge and
    # workers connect as their own least-privilege roles when given, else as the
    # owner (filled in when the settings load).
    database_url: str | None = Field(default=None,
                                     validation_alias=AliasChoices("DATABASE_URL", "OPENPARTY_DATABASE_URL"))
    edge_database_url: str | None = None
    worker_database_url: str | None = None
    db_pool_min_size: int = 1
    db_pool_max_size: int = 10
    db_pool_timeout_seconds: float = 10.0

    # Supabase Auth: HS256 with the project's JWT secret, or the project's JWKS
    # (asymmetric signing keys) at <supabase_url>/auth/v1/.well-known/jwks.json.
    supabase_url: str | None = None
    supabase_jwt_secret: SecretStr | None = None
    jwt_audience: str = "authenticated"
    jwks_cache_seconds: int = 600
    # A token with a kid we do not know refetches the JWKS (a rotated key), at
    # most once per this many seconds, so unknown kids cannot make us hammer it.
    jwks_min_refetch_seconds: float = Field(default=30, gt=0, le=3600)
    # The project's service key (secret): the Storage API and the Auth admin API
    # for account deletion. Unset: deletion jobs wait (their database step is done).
    supabase_service_role_key: SecretStr | None = None

    # Stripe. Webhook secrets: comma-separated, so a rotated secret and its
    # successor both verify during the switch.
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secrets: SecretStr | None = None
    stripe_connect_webhook_secrets: SecretStr | None = None
    # How old a signature may be. Bounded: 0 would switch the age check off in
    # stripe-python, so replayed events of any age would verify.
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    stripe_api_base: str | None = None  # tests and local fakes only
    platform_fee_bps: int = Field(default=1000, ge=0, le=5000)
    # The Stripe price of each plan sold by web checkout; a plan without one is not sold there.
    stripe_prices: dict[PaidPlan, str] = Field(default_factory=dict)
    connect_refresh_url: str = "openparty://payouts/refresh"
    connect_return_url: str = "openparty://payouts/return"
    checkout_success_url: str = "https://openparty.app/premium/success"
    checkout_cancel_url: str = "https://openparty.app/premium"
    # Where Stripe's customer portal (POST /billing/portal) sends the user back.
    billing_portal_return_url: str = "https://openparty.app/account/billing"

    # RevenueCat: the Authorization header value set in its dashboard, and the
    # environment this deployment accepts (SANDBOX events are kept apart).
    revenuecat_webhook_authorization: SecretStr | None = None
    revenuecat_environment: str = Field(default="PRODUCTION", pattern="^(PRODUCTION|SANDBOX)$")

    max_webhook_body_bytes: int = Field(default=512 * 1024, ge=1024)
    # Bodies the app sends (/tips, /checkout) are small; larger ones get 413 unread.
    max_request_body_bytes: int = Field(default=16 * 1024, ge=1024)

    # Push through Expo. Without an access token nothing goes to Expo: the
    # dispatcher records what it would have sent (logged deliveries).
    expo_access_token: SecretStr | None = None
    expo_push_url: str = "https://exp.host/--/api/v2/push/send"
    expo_receipts_url: str = "https://exp.host/--/api/v2/push/getReceipts"
    push_rate_per_second: float = Field(default=600, gt=0)
    push_claim_size: int = Field(default=500, ge=1)
    push_lease_seconds: int = 120
    push_max_attempts: int = Field(default=5, ge=1)
    push_backoff_seconds: float = 30
    push_interval_seconds: float = 2
    receipts_interval_seconds: float = 300
    receipts_min_age_minutes: int = 15
    # Our Expo project ("@owner/slug"): on PUSH_TOO_MANY_EXPERIENCE_IDS the
    # other projects' tokens are retired. Unset: the project holding most of
    # the request's tokens is taken for ours (logged).
    expo_project: str | None = None
    # While Expo refuses the access token, dispatch pauses and tries one
    # request this often; the workers' /readyz answers 503 meanwhile.
    push_pause_probe_seconds: float = Field(default=60, gt=0)
    # The workers' own /healthz and /readyz (unset: not served).
    worker_health_port: int | None = None
    worker_health_host: str = "127.0.0.1"

    # Cleanup and reconciliation (worker jobs).
    cleanup_interval_seconds: float = 60
    cleanup_batch_size: int = 500
    heartbeat_timeout_seconds: int = 300
    abandoned_after_minutes: int = 240
    scheduled_grace_hours: int = 24
    participant_idle_minutes: int = 10
    reminder_lead_minutes: int = 15
    notification_retention_days: int = 30
    reconcile_interval_seconds: float = 600
    reconcile_pending_tip_minutes: int = 60
    # Pending tips checked at Stripe per round (least recently checked first),
    # and how long a payment sheet may stay open before the tip counts as
    # abandoned (its PaymentIntent is canceled at Stripe).
    reconcile_batch_size: int = Field(default=100, ge=1)
    reconcile_abandon_tip_minutes: int = Field(default=24 * 60, ge=1)

    # Room ticks (worker job room_tick): every tick, each large room's pending
    # changes go out as one batched broadcast. The listener threshold and auto
    # slow mode are rules of the database (private.room_tick_settings).
    room_tick_seconds: float = Field(default=1.0, gt=0)
    room_tick_max_rooms: int = Field(default=500, ge=1)
    room_tick_max_changes: int = Field(default=500, ge=1)

    # Account deletion (worker): the storage and auth steps, in batches.
    account_deletion_interval_seconds: float = 60
    account_deletion_batch_size: int = Field(default=20, ge=1)

    # Artist payouts (worker): a month is run once it has ended; the pool is
    # this share of the month's subscription revenue in this currency; the
    # model pays pro rata or user-centric (both are computed and kept);
    # statements below the minimum carry over. Transfers are claimed with a lease.
    artist_payout_interval_seconds: float = 3600
    # Days after a month's end before it is run: late webhook deliveries of its last days land first.
    artist_payout_grace_days: int = Field(default=3, ge=0, le=27)
    artist_payout_currency: str = Field(default="usd", pattern="^[a-z]{3}$")
    artist_payout_share_bps: int = Field(default=5000, ge=0, le=10000)
    artist_payout_model: Literal["pro_rata", "user_centric"] = "user_centric"
    artist_payout_min_amount: int = Field(default=1000, ge=1)
    artist_transfer_lease_seconds: int = Field(default=600, ge=1)
    # Music: auto-advance (a worker job) and Spotify. The Spotify app is public
    # (PKCE, no client secret): only its client id; the redirect URIs the app
    # may use must be the ones registered on Spotify's dashboard. Unset client
    # id: /spotify answers 503 and the Spotify jobs do nothing.
    auto_advance_interval_seconds: float = Field(default=3, gt=0)
    auto_advance_grace_seconds: int = Field(default=5, ge=0, le=300)
    auto_advance_batch_size: int = Field(default=200, ge=1)
    spotify_client_id: str | None = None
    spotify_redirect_uris: list[str] = Field(default_factory=lambda: ["openparty://spotify/callback"])
    spotify_accounts_url: str = "https://accounts.spotify.com"
    spotify_api_url: str = "https://api.spotify.com/v1"
    spotify_timeout_seconds: float = Field(default=10, gt=0)
    spotify_poll_interval_seconds: float = Field(default=10, gt=0)  # per DJ
    spotify_poll_tick_seconds: float = Field(default=2, gt=0)  # how often the job looks for due DJs
    spotify_poll_batch_size: int = Field(default=50, ge=1)
    spotify_poll_concurrency: int = Field(default=10, ge=1)
    # Spotify limits requests per app over a rolling 30 s window without
    # publishing the number: the poller spends at most this many per window.
    spotify_budget_per_window: int = Field(default=120, ge=1)
    spotify_budget_window_seconds: int = Field(default=30, ge=1)
    spotify_refresh_interval_seconds: float = Field(default=60, gt=0)
    spotify_refresh_ahead_seconds: int = Field(default=600, ge=60)
    spotify_import_max_tracks: int = Field(default=500, ge=1, le=10_000)
    # Social (worker jobs): the per-second room sweep (reactions, battle tallies
    # and rounds) and the creator analytics rollup.
    room_events_interval_seconds: float = Field(default=1, gt=0)
    room_events_batch_size: int = Field(default=500, ge=1)
    creator_rollup_interval_seconds: float = Field(default=300, gt=0)
    creator_rollup_max_days: int = Field(default=31, ge=1, le=366)

    # Logs: `text` (one line each, for people) or `json` (one object per line, for
    # a log pipeline); the level of the openparty loggers.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Error reporting to Sentry: off unless a DSN is set.
    sentry_dsn: SecretStr | None = None
    sentry_environment: str = "production"
    sentry_traces_sample_rate: float = Field(default=0.0, ge=0, le=1)

    # The local stack only (localstack/): the embedded Postgres's port under
    # scripts/dev (Supabase's CLI uses 54322 too; 0 = a free one), the API's port,
    # and the loopback Stripe stand-in's port.
    local_pg_port: int = Field(default=54322, ge=0, le=65535)
    api_port: int = 8000
    local_stripe_port: int = Field(default=12111, ge=0, le=65535)

    @field_validator("database_url", "edge_database_url", "worker_database_url", mode="before")
    @classmethod
    def _postgres_url(cls, value: object) -> object:
        if value is None or value == "":
            return None
        if not isinstance(value, str) or not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("is not a postgres:// or postgresql:// URL")
        try:
            conninfo_to_dict(value)
        except psycopg.Error:
            raise ValueError("is not a valid Postgres URL") from None  # libpq's message may quote the password
        return value

    @model_validator(mode="after")
    def _service_urls_default_to_database_url(self) -> Self:
        self.edge_database_url = self.edge_database_url or self.database_url
        self.worker_database_url = self.worker_database_url or self.database_url
        return self

    @field_validator("supabase_jwt_secret", "supabase_service_role_key", "stripe_secret_key", "stripe_webhook_secrets",
                     "stripe_connect_webhook_secrets", "revenuecat_webhook_authorization", "expo_access_token",
                     "sentry_dsn")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        if not value.get_secret_value().strip():
            # An empty or blank secret is no secret: treat it as unset (the endpoint
            # answers 503), never as one an empty header or an empty key matches.
            return None
        if value.get_secret_value().strip().lower() in PLACEHOLDERS:
            raise ValueError("is a placeholder: set the real secret or leave it unset")
        return value

    @staticmethod
    def secret_list(value: SecretStr | None) -> list[str]:
        if value is None:
            return []
        return [part.strip() for part in value.get_secret_value().split(",") if part.strip()]

    @property
    def edge_conninfo(self) -> str:
        if self.edge_database_url is None:
            raise RuntimeError("set OPENPARTY_EDGE_DATABASE_URL (or DATABASE_URL)")
        return self.edge_database_url

    @property
    def worker_conninfo(self) -> str:
        if self.worker_database_url is None:
            raise RuntimeError("set OPENPARTY_WORKER_DATABASE_URL (or DATABASE_URL)")
        return self.worker_database_url

    @property
    def jwks_url(self) -> str | None:
        return f"{self.supabase_url.rstrip('/')}/auth/v1/.well-known/jwks.json" if self.supabase_url else None

    @property
    def jwt_issuer(self) -> str | None:
        return f"{self.supabase_url.rstrip('/')}/auth/v1" if self.supabase_url else None


@lru_cache
def get_settings() -> Settings:
    """The settings from the environment and .env, read once per process: the one
    way every entry point (app, workers, migrate, the local stack) gets them."""
    return Settings()
