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
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

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


class StackNotRunning(SystemExit):
    def __init__(self, path: Path) -> None:
        super().__init__(f"No dev stack is running here ({path} is missing): start it with scripts/dev.")


def _new_signing_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@dataclass(frozen=True)
class DevSecrets:
    """The local project's secrets. Like a current Supabase project, it signs user
    tokens with an asymmetric key (ES256) published as a JWKS, and keeps a legacy
    HS256 JWT secret that verifies too."""

    jwt_secret: str
    stripe_secret_key: str
    stripe_webhook_secret: str
    stripe_connect_webhook_secret: str
    revenuecat_authorization: str
    signing_key: str = ""  # PEM, EC P-256
    signing_kid: str = ""

    @classmethod
    def load_or_create(cls, local_root: Path = LOCAL_ROOT) -> DevSecrets:
        path = local_root / "dev-secrets.json"
        fields: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        made = cls(
            jwt_secret=fields.get("jwt_secret") or secrets.token_urlsafe(48),
            stripe_secret_key=fields.get("stripe_secret_key") or "sk_test_local_" + secrets.token_hex(12),
            stripe_webhook_secret=fields.get("stripe_webhook_secret") or "whsec_local_" + secrets.token_hex(16),
            stripe_connect_webhook_secret=(fields.get("stripe_connect_webhook_secret")
                                           or "whsec_local_connect_" + secrets.token_hex(16)),
            revenuecat_authorization=fields.get("revenuecat_authorization") or "Bearer rc_local_" + secrets.token_hex(16),
            signing_key=fields.get("signing_key") or _new_signing_key(),
            signing_kid=fields.get("signing_kid") or str(uuid.uuid4()),
        )
        if asdict(made) != fields:  # first run, or a file from before a secret was added
            local_root.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(asdict(made), out, indent=2)
            tmp.replace(path)
        return made

    def jwks(self) -> dict[str, Any]:
        """The public signing key as Supabase Auth publishes it (/auth/v1/.well-known/jwks.json)."""
        key = serialization.load_pem_private_key(self.signing_key.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the dev signing key is not an EC key: delete .local/dev-secrets.json to make a new one")
        jwk: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        return {"keys": [{**jwk, "kid": self.signing_kid, "alg": "ES256", "use": "sig", "key_ops": ["verify"]}]}


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


def issuer_of(api_url: str) -> str:
    """The dev stack plays the project's Auth: its API URL is the project URL."""
    return f"{api_url.rstrip('/')}/auth/v1"


def user_token(keys: DevSecrets, issuer: str, user_id: str | uuid.UUID, *, email: str | None = None,
               hours: float = 24, algorithm: str = "ES256") -> str:
    """An access token shaped as Supabase Auth issues it (ES256 with the signing
    key's kid, or HS256 with the legacy secret): aud, exp, iat, iss, sub, email,
    role, aal, session_id, is_anonymous."""
    now = int(time.time())
    claims = {
        "aud": "authenticated",
        "exp": now + int(hours * 3600),
        "iat": now,
        "iss": issuer,
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
    if algorithm == "HS256":
        return jwt.encode(claims, keys.jwt_secret, algorithm="HS256")
    return jwt.encode(claims, keys.signing_key, algorithm="ES256", headers={"kid": keys.signing_kid})
