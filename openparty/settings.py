"""One settings object for the functions and the workers (env prefix OPENPARTY_).

Secrets have no defaults. A secret that is set to a placeholder fails at
startup; a secret that is missing disables only what needs it (that endpoint
answers 503), so the local stack runs with none configured.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDERS = {"changeme", "change-me", "placeholder", "xxx", "todo", "secret", "your-secret-here"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENPARTY_", env_file=".env", extra="ignore")

    # Postgres. DATABASE_URL is the owner's connection (migrations); the edge and
    # workers connect as their own least-privilege roles when given.
    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL", "OPENPARTY_DATABASE_URL"))
    edge_database_url: str | None = None
    worker_database_url: str | None = None
    db_pool_min_size: int = 1
    db_pool_max_size: int = 10
    local_pg_port: int | None = None

    # Supabase Auth: HS256 with the project's JWT secret, or the project's JWKS
    # (asymmetric signing keys) at <supabase_url>/auth/v1/.well-known/jwks.json.
    supabase_url: str | None = None
    supabase_jwt_secret: SecretStr | None = None
    jwt_audience: str = "authenticated"
    jwks_cache_seconds: int = 600

    @field_validator("supabase_jwt_secret")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in PLACEHOLDERS:
            raise ValueError("is a placeholder: set the real secret or leave it unset")
        return value

    @property
    def jwks_url(self) -> str | None:
        return f"{self.supabase_url.rstrip('/')}/auth/v1/.well-known/jwks.json" if self.supabase_url else None

    @property
    def jwt_issuer(self) -> str | None:
        return f"{self.supabase_url.rstrip('/')}/auth/v1" if self.supabase_url else None


@lru_cache
def get_settings() -> Settings:
    return Settings()
