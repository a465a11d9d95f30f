"""What the helpers (scripts/demo, psql-as, send-event, token) need to reach a
running dev stack, and the dev stack's local secrets.

`scripts/dev` writes `.local/dev.json` when it is up and removes it on the way
out. The secrets (JWT secret, webhook secrets) are made once per checkout in
`.local/dev-secrets.json` (mode 0600) and kept, so a token or a webhook
signature made yesterday still verifies after a restart. Local only.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jwt

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_ROOT = REPO_ROOT / ".local"
# The seeded demo users (supabase/seed.sql), by username.
DEMO_USERS = {
    "dj_nova": "00000000-0000-4000-8000-000000000001",
    "kai": "00000000-0000-4000-8000-000000000002",
    "mila": "00000000-0000-4000-8000-000000000003",
    "ren": "00000000-0000-4000-8000-000000000004",
}
DEMO_DJ = DEMO_USERS["dj_nova"]
LOCAL_ISSUER = "http://127.0.0.1:54321/auth/v1"  # what `supabase start`'s Auth would put in iss


class StackNotRunning(SystemExit):
    def __init__(self, path: Path) -> None:
        super().__init__(f"No dev stack is running here ({path} is missing): start it with scripts/dev.")


@dataclass(frozen=True)
class DevSecrets:
    jwt_secret: str
    stripe_secret_key: str
    stripe_webhook_secret: str
    stripe_connect_webhook_secret: str
    revenuecat_authorization: str

    @classmethod
    def load_or_create(cls, local_root: Path = LOCAL_ROOT) -> DevSecrets:
        path = local_root / "dev-secrets.json"
        if path.exists():
            return cls(**json.loads(path.read_text()))
        made = cls(
            jwt_secret=secrets.token_urlsafe(48),
            stripe_secret_key="sk_test_local_" + secrets.token_hex(12),
            stripe_webhook_secret="whsec_local_" + secrets.token_hex(16),
            stripe_connect_webhook_secret="whsec_local_connect_" + secrets.token_hex(16),
            revenuecat_authorization="Bearer rc_local_" + secrets.token_hex(16),
        )
        local_root.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(made), out, indent=2)
        return made


@dataclass(frozen=True)
class DevState:
    pid: int
    api_url: str
    stripe_api_url: str
    database_url: str  # the owner (superuser) of the local database
    authenticator_url: str  # PostgREST's login role
    secrets: DevSecrets

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({**asdict(self), "secrets": asdict(self.secrets)}, out, indent=2)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path = LOCAL_ROOT / "dev.json") -> DevState:
        if not path.exists():
            raise StackNotRunning(path)
        data: dict[str, Any] = json.loads(path.read_text())
        return cls(**{**data, "secrets": DevSecrets(**data["secrets"])})


def user_token(secret: str, user_id: str | uuid.UUID, *, email: str | None = None, hours: float = 24) -> str:
    """An access token shaped as Supabase Auth issues it (HS256 with the project's
    JWT secret): aud, exp, iat, iss, sub, email, role, aal, session_id, is_anonymous."""
    now = int(time.time())
    claims = {
        "aud": "authenticated",
        "exp": now + int(hours * 3600),
        "iat": now,
        "iss": LOCAL_ISSUER,
        "sub": str(user_id),
        "email": email or "",
        "phone": "",
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {},
        "role": "authenticated",
        "aal": "aal1",
        "amr": [{"method": "password", "timestamp": now}],
        "session_id": str(uuid.uuid4()),
        "is_anonymous": False,
    }
    return jwt.encode(claims, secret, algorithm="HS256")
