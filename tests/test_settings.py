"""Settings load once, validated: database URLs are Postgres URLs and the service
connections default to DATABASE_URL; Stripe prices are keyed by the paid plans."""

import pytest
from pydantic import ValidationError

from openparty.plans import PaidPlan
from openparty.settings import Settings

URL = "postgresql://postgres:s3cret@db.example.test:5432/postgres"


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def test_service_connections_default_to_database_url(monkeypatch):
    settings = load(monkeypatch, DATABASE_URL=URL, OPENPARTY_WORKER_DATABASE_URL=URL.replace("postgres:", "w:", 1))
    assert settings.edge_conninfo == URL
    assert settings.worker_conninfo.startswith("postgresql://w:")


def test_without_any_url_a_service_connection_fails_when_asked_for(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = load(monkeypatch, OPENPARTY_EDGE_DATABASE_URL="")
    assert settings.database_url is None and settings.edge_database_url is None
    with pytest.raises(RuntimeError, match="OPENPARTY_EDGE_DATABASE_URL"):
        _ = settings.edge_conninfo


@pytest.mark.parametrize("url", ["mysql://root@db/app", "host=db dbname=app", "postgresql://db/app?nosuchoption=1"])
def test_a_database_url_that_is_not_a_postgres_url_fails_at_load_without_echoing_it(monkeypatch, url):
    with pytest.raises(ValidationError, match="edge_database_url") as failure:
        load(monkeypatch, DATABASE_URL=URL, OPENPARTY_EDGE_DATABASE_URL=url)
    assert url not in str(failure.value)


def test_stripe_prices_come_from_nested_variables_keyed_by_paid_plan(monkeypatch):
    settings = load(monkeypatch, OPENPARTY_STRIPE_PRICES__PREMIUM="price_p", OPENPARTY_STRIPE_PRICES__DJ_PRO="price_d")
    assert settings.stripe_prices == {PaidPlan.PREMIUM: "price_p", PaidPlan.DJ_PRO: "price_d"}
    with pytest.raises(ValidationError):
        load(monkeypatch, OPENPARTY_STRIPE_PRICES__FREE="price_f")


def test_the_paid_plans_are_the_plans_table_less_free(db):
    ids = {row[0] for row in db.admin.execute("select id from public.plans")}
    assert ids - {"free"} == set(PaidPlan)
