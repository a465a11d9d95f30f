"""Supabase user JWTs: HS256 with the project secret, or asymmetric keys from the
project's JWKS; anything invalid, expired or for the wrong audience is a 401."""

import asyncio
import time
import uuid

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives.asymmetric import ec

from functions.app import create_app
from functions.deps import UserDep
from tests.apphelpers import SUPABASE_URL, running_app, settings_for, user_token

JWKS_URL = f"{SUPABASE_URL}/auth/v1/.well-known/jwks.json"


def app_with_probe(db, **overrides):
    # A probe route that needs a signed-in user, to exercise the dependency alone.
    app = create_app(settings_for(db, **overrides))

    @app.get("/probe")
    async def probe(user: UserDep):
        return {"user_id": str(user.id)}

    return app


async def test_valid_hs256_token_identifies_the_user(db):
    user_id = uuid.uuid4()
    async with running_app(app_with_probe(db)) as client:
        response = await client.get("/probe", headers={"Authorization": f"Bearer {user_token(user_id)}"})
    assert response.status_code == 200
    assert response.json() == {"user_id": str(user_id)}


@pytest.mark.parametrize(
    ("token_kwargs", "message"),
    [
        ({"expires_in": -60}, "token expired"),
        ({"audience": "somebody-else"}, "wrong audience"),
        ({"secret": "another-secret-another-secret-12345"}, "invalid token"),
        ({"role": "anon"}, "signed-in user"),
        ({"iss": "https://evil.example/auth/v1"}, "wrong issuer"),
    ],
)
async def test_bad_tokens_get_401_with_a_clear_error(db, token_kwargs, message):
    token = user_token(uuid.uuid4(), **token_kwargs)
    async with running_app(app_with_probe(db)) as client:
        response = await client.get("/probe", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["detail"]["error"] == "invalid_token"
    assert message in response.json()["detail"]["message"]
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", [None, "Bearer not-a-jwt", "Basic dXNlcjpwYXNz"])
async def test_missing_or_malformed_credentials_get_401(db, header):
    headers = {"Authorization": header} if header else {}
    async with running_app(app_with_probe(db)) as client:
        response = await client.get("/probe", headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"]["error"] == "invalid_token"


def es256_key_and_jwks(kid: str):
    private_key = ec.generate_private_key(ec.SECP256R1())
    public_jwk = jwt.algorithms.ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    public_jwk |= {"kid": kid, "alg": "ES256", "use": "sig"}
    return private_key, {"keys": [public_jwk]}


def es256_token(private_key, kid: str, user_id: uuid.UUID, **claims) -> str:
    now = int(time.time())
    payload = {"sub": str(user_id), "aud": "authenticated", "role": "authenticated", "exp": now + 600,
               "iss": f"{SUPABASE_URL}/auth/v1", **claims}
    return jwt.encode(payload, private_key, algorithm="ES256", headers={"kid": kid})


@respx.mock
async def test_asymmetric_token_is_verified_with_the_projects_jwks(respx_mock, db):
    private_key, jwks = es256_key_and_jwks("key-1")
    jwks_route = respx_mock.get(JWKS_URL).mock(return_value=httpx.Response(200, json=jwks))
    user_id = uuid.uuid4()
    # Unknown kids refetch at most once per jwks_min_refetch_seconds: make that short here.
    async with running_app(app_with_probe(db, supabase_jwt_secret=None, jwks_min_refetch_seconds=0.05)) as client:
        for _ in range(2):
            token = es256_token(private_key, "key-1", user_id)
            response = await client.get("/probe", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200
            assert response.json() == {"user_id": str(user_id)}
        other_key, _ = es256_key_and_jwks("key-1")
        forged = await client.get("/probe", headers={"Authorization": f"Bearer {es256_token(other_key, 'key-1', user_id)}"})
        await asyncio.sleep(0.1)
        unknown = await client.get("/probe", headers={"Authorization": f"Bearer {es256_token(private_key, 'key-9', user_id)}"})
    assert jwks_route.call_count == 2  # cached once, refetched for the unknown kid
    assert forged.status_code == 401
    assert unknown.status_code == 401 and "unknown key" in unknown.json()["detail"]["message"]


async def test_hs256_is_refused_when_no_secret_is_configured(db):
    async with running_app(app_with_probe(db, supabase_jwt_secret=None)) as client:
        response = await client.get("/probe", headers={"Authorization": f"Bearer {user_token(uuid.uuid4())}"})
    assert response.status_code == 401
    assert "no JWT secret" in response.json()["detail"]["message"]


def test_a_placeholder_secret_fails_at_startup(db):
    with pytest.raises(ValueError, match="placeholder"):
        settings_for(db, supabase_jwt_secret="changeme")
