"""The API documents itself offline and completely; logs can be JSON; error
reporting is off unless a DSN is set."""

from __future__ import annotations

import io
import json
import logging

import pytest
import sentry_sdk

from functions.app import create_app
from functions.openapi_docs import ROUTES
from openparty.logs import configure_logging, formatter_for, init_error_reporting
from openparty.settings import Settings
from tests.apphelpers import client_for

OFFLINE = Settings(database_url="postgresql://nobody@127.0.0.1:1/none")


def test_every_route_documents_its_real_answers_and_body():
    document = create_app(OFFLINE).openapi()
    operations = {(path, method) for path, methods in document["paths"].items() for method in methods}
    assert operations == set(ROUTES)  # a new route needs its answers written down in functions/openapi_docs.py
    for path, method in operations:
        operation = document["paths"][path][method]
        assert len(operation["responses"]) >= 2 or path == "/healthz", (path, operation["responses"])
        if method == "post" and path not in ("/dj/connect", "/billing/portal", "/dj/dashboard-link"):  # no body
            assert "requestBody" in operation, path
    tips = document["paths"]["/tips"]["post"]["responses"]
    assert set(tips) == {"200", "401", "403", "404", "409", "413", "422", "502", "503"}
    stripe = document["paths"]["/webhooks/stripe"]["post"]
    assert set(stripe["responses"]) == {"200", "400", "413", "500", "503"}  # a bad body is a 400, never a 422
    assert stripe["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/StripeEvent"}
    assert any(p["name"] == "Stripe-Signature" for p in stripe["parameters"])
    revenuecat = document["paths"]["/webhooks/revenuecat"]["post"]
    assert "401" in revenuecat["responses"] and "requestBody" in revenuecat
    # Every reference resolves inside the document.
    text = json.dumps(document)
    for name in {part.split('"')[0] for part in text.split('"#/components/schemas/')[1:]}:
        assert name in document["components"]["schemas"], name


async def test_swagger_and_redoc_load_from_the_app_itself(db):
    async with client_for(db) as client:
        for page, asset in (("/docs", "/static/docs/swagger-ui-bundle.js"), ("/redoc", "/static/docs/redoc.standalone.js")):
            html = (await client.get(page)).text
            assert asset in html and "cdn" not in html.lower() and "fonts.googleapis" not in html
            assert (await client.get(asset)).status_code == 200


def test_json_logs_carry_the_event_and_its_fields():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter_for(Settings(log_format="json")))
    logger = logging.getLogger("openparty.test_json")
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("worker.job name=push_dispatch rows=3 duration_ms=4.1")
    logger.removeHandler(handler)
    line = json.loads(out.getvalue())
    assert line["event"] == "worker.job" and line["name"] == "push_dispatch" and line["rows"] == "3"
    assert line["level"] == "WARNING" and line["logger"] == "openparty.test_json" and "time" in line


def test_configure_logging_keeps_pytest_capture_and_sets_our_level(caplog):
    configure_logging(Settings(log_level="WARNING"))
    try:
        assert logging.getLogger("openparty").level == logging.WARNING
        assert caplog.handler in logging.getLogger().handlers
    finally:
        logging.getLogger("openparty").setLevel(logging.NOTSET)


def test_error_reporting_is_off_without_a_dsn_and_on_with_one():
    assert init_error_reporting(Settings(), "test") is False
    try:
        assert init_error_reporting(Settings(sentry_dsn="https://public@o0.ingest.sentry.io/1"), "test") is True
        assert sentry_sdk.get_client().is_active()
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()  # back to a client that sends nothing
    with pytest.raises(ValueError, match="placeholder"):
        Settings(sentry_dsn="changeme")
