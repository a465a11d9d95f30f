"""Artist payouts: the monthly pool split pro rata and user-centric, exact to
the minor unit (largest remainder, sums equal to the pool), the minimum payout
carried over, a month run once; and the Stripe Connect transfers, idempotent
under retries and a crash between Stripe's answer and our record of it."""

import json
import uuid
from datetime import date
from fractions import Fraction

import httpx
import pytest
import respx

from tests.catalog import make_artist, upload_track
from tests.providers import MONEY_SETTINGS, STRIPE_API, form, new_id
from tests.room import refused
from tests.workerhelpers import worker_context
from workers import artists

OCTOBER, SEPTEMBER = date(2026, 10, 1), date(2026, 9, 1)
RUN = "select * from private.run_artist_payouts(%s, 'usd', %s, %s, %s)"


def streams(db, track, listener, count, month=OCTOBER, ms=60_000):
    """count plays of track heard by listener (None: an anonymised listener) in month."""
    for n in range(count):
        play = db.admin.execute(
            "insert into public.plays (provider, provider_ref, track_id, title, artist, started_at, ended_at, ms_played) "
            "values ('openparty', %s, %s, 't', 'a', %s::timestamptz + make_interval(hours => %s), "
            "%s::timestamptz + make_interval(hours => %s, secs => 120), 120000) returning id",
            (str(track), track, month, n + 1, month, n + 1)).fetchone()[0]
        db.admin.execute("insert into public.play_listeners (play_id, user_id, ms_listened) values (%s, %s, %s)",
                         (play, listener, ms))


def stripe_invoice_paid(db, customer, amount, month=OCTOBER, currency="usd"):
    event = {"id": new_id("evt"), "type": "invoice.paid", "data": {"object": {
        "id": new_id("in"), "object": "invoice", "customer": customer, "amount_paid": amount, "currency": currency,
        "status": "paid"}}}
    db.admin.execute("insert into private.webhook_events (provider, id, type, event_at, payload, processed_at, outcome) "
                     "values ('stripe', %s, 'invoice.paid', %s::timestamptz + interval '3 days', %s, now(), 'invoice paid')",
                     (event["id"], month, json.dumps(event)))


def revenuecat_renewal(db, user, price, month=OCTOBER):
    event = {"id": str(uuid.uuid4()), "type": "RENEWAL", "app_user_id": str(user), "aliases": [str(user)],
             "price": price, "price_in_purchased_currency": price, "currency": "USD", "environment": "PRODUCTION"}
    db.admin.execute("insert into private.webhook_events (provider, id, type, event_at, payload, processed_at, outcome) "
                     "values ('revenuecat', %s, 'RENEWAL', %s::timestamptz + interval '5 days', %s, now(), 'granted')",
                     (event["id"], month, json.dumps(event)))


def subscriber(db, name, customer=None):
    user = db.create_user(name)
    if customer:
        db.admin.execute("insert into public.stripe_customers (user_id, stripe_customer_id) values (%s, %s)",
                         (user, customer))
    return user


def onboard(db, artist, account):
    db.admin.execute("insert into public.payout_accounts (dj_id, stripe_account_id, charges_enabled, payouts_enabled) "
                     "values (%s, %s, true, true)", (artist, account))


def largest_remainder(total: int, weights: dict) -> dict:
    """The reference: exact shares as fractions, floors, leftover units to the largest remainders (ties: lower key)."""
    weight_sum = sum(weights.values())
    shares = {k: Fraction(total) * w / weight_sum for k, w in weights.items() if w > 0}
    amounts = {k: int(s) for k, s in shares.items()}
    leftover = total - sum(amounts.values())
    for k in sorted(shares, key=lambda k: (-(shares[k] - amounts[k]), str(k)))[:leftover]:
        amounts[k] += 1
    return amounts


@pytest.fixture
def october(db):
    """Three artists; subscribers A (Stripe, 9.99), B (App Store via RevenueCat, 4.99) and D (10.00, streamed
    nothing); C listens free; 1.02 of revenue from a customer we cannot tie to a user."""
    x, y, z = (make_artist(db, n) for n in ("artist_x", "artist_y", "artist_z"))
    tx, ty, tz = (upload_track(db, a) for a in (x, y, z))
    a, b, d = subscriber(db, "sub_a", "cus_a"), subscriber(db, "sub_b"), subscriber(db, "sub_d", "cus_d")
    c = db.create_user("free_c")
    stripe_invoice_paid(db, "cus_a", 999)
    revenuecat_renewal(db, b, 4.99)
    stripe_invoice_paid(db, "cus_d", 1000)
    stripe_invoice_paid(db, "cus_gone", 102)
    stripe_invoice_paid(db, "cus_a", 5000, month=SEPTEMBER)  # another month: not in October's pool
    stripe_invoice_paid(db, "cus_a", 777, currency="eur")  # another currency: not in a usd pool
    streams(db, tx, a, 2)
    streams(db, ty, a, 1)
    streams(db, ty, b, 1)
    streams(db, tz, b, 2)
    streams(db, tz, c, 3)
    streams(db, tx, c, 1)
    streams(db, tx, None, 1)  # a listener who has since deleted their account
    streams(db, tx, a, 4, ms=29_000)  # under 30 s: no streams
    onboard(db, x, "acct_x")
    onboard(db, y, "acct_y")
    return {"x": x, "y": y, "z": z, "a": a, "b": b, "c": c, "d": d}


def statements(db, month=OCTOBER) -> dict:
    rows = db.admin.execute("select artist_id, streams, pro_rata_amount, user_centric_amount, earned, carried_in, "
                            "payable, status::text from public.artist_statements where month = %s", (month,)).fetchall()
    return {r[0]: r[1:] for r in rows}


async def test_october_is_split_exactly_both_ways(db, october):
    x, y, z = october["x"], october["y"], october["z"]
    async with worker_context(db, artist_payout_model="user_centric", artist_payout_share_bps=5000,
                              artist_payout_min_amount=300) as ctx:
        await artists.run_payouts(ctx, today=date(2026, 11, 3))  # within the grace days: September (nothing)
        assert statements(db) == {}
        await artists.run_payouts(ctx, today=date(2026, 11, 4))
    run = db.admin.execute("select revenue, pool, streams, distributed, model from private.artist_payout_runs "
                           "where month = %s", (OCTOBER,)).fetchone()
    assert run == (2600, 1300, 11, 1300, "user_centric")  # 999 + 499 + 1000 + 102; half of it

    # pro rata: streams X 4, Y 2, Z 5 of 11
    pro_rata = largest_remainder(1300, {x: 4, y: 2, z: 5})
    # user-centric: A's 999 follows A's streams (X 2, Y 1), B's 499 follows B's (Y 1, Z 2); D's 1000 and the
    # unattributed 102 follow all streams (pro rata)
    weights = {x: Fraction(999 * 2, 3) + Fraction(1102 * 4, 11),
               y: Fraction(999, 3) + Fraction(499, 3) + Fraction(1102 * 2, 11),
               z: Fraction(499 * 2, 3) + Fraction(1102 * 5, 11)}
    user_centric = largest_remainder(1300, weights)
    assert pro_rata == {x: 473, y: 236, z: 591}
    assert user_centric == {x: 533, y: 350, z: 417}
    assert sum(pro_rata.values()) == sum(user_centric.values()) == 1300

    got = statements(db)
    assert got == {
        x: (4, 473, 533, 533, 0, 533, "pending"),
        y: (2, 236, 350, 350, 0, 350, "pending"),
        z: (5, 591, 417, 417, 0, 417, "carried_over"),  # no payout account yet
    }
    # each artist reads their own statement, nobody else's
    assert [r["user_centric_amount"] for r in db.as_user(x).sql("select * from public.artist_statements")] == [533]
    assert db.as_user(october["a"]).sql("select * from public.artist_statements") == []


def test_rounding_ties_go_to_the_lower_artist_id_and_sums_hold(db):
    trio = sorted((make_artist(db, f"tie_{n}") for n in range(3)), key=str)
    fan = subscriber(db, "fan", "cus_fan")
    stripe_invoice_paid(db, "cus_fan", 200)
    for artist in trio:
        streams(db, upload_track(db, artist), fan, 1)
    db.admin.execute(RUN, (OCTOBER, 5000, "pro_rata", 1))
    got = statements(db)
    assert [got[a][1] for a in trio] == [34, 33, 33]  # 100 / 3: the leftover unit to the lowest id
    assert [got[a][2] for a in trio] == [34, 33, 33]


def test_a_month_is_run_once(db, october):
    first = db.admin.execute(RUN, (OCTOBER, 5000, "user_centric", 300)).fetchone()
    before = db.admin.execute("select * from public.artist_statements order by id").fetchall()
    streams(db, upload_track(db, october["z"]), october["a"], 5)  # late data changes nothing either
    again = db.admin.execute(RUN, (OCTOBER, 9000, "pro_rata", 1)).fetchone()
    assert again == first
    assert db.admin.execute("select * from public.artist_statements order by id").fetchall() == before
    with refused("PT409", "has not ended"):
        db.admin.execute(RUN, (date.today(), 5000, "pro_rata", 1))


def test_a_small_balance_is_carried_over_until_it_reaches_the_minimum(db):
    artist = make_artist(db)
    onboard(db, artist, "acct_small")
    track = upload_track(db, artist)
    fan = subscriber(db, "fan", "cus_fan")
    stripe_invoice_paid(db, "cus_fan", 600, month=SEPTEMBER)
    stripe_invoice_paid(db, "cus_fan", 600, month=OCTOBER)
    streams(db, track, fan, 1, month=SEPTEMBER)
    streams(db, track, fan, 1, month=OCTOBER)
    db.admin.execute(RUN, (SEPTEMBER, 5000, "user_centric", 500))
    assert statements(db, SEPTEMBER)[artist][-3:] == (0, 300, "carried_over")
    db.admin.execute(RUN, (OCTOBER, 5000, "user_centric", 500))
    assert statements(db, OCTOBER)[artist][-4:] == (300, 300, 600, "pending")
    september_id, carried_to = db.admin.execute(
        "select id, carried_to from public.artist_statements where month = %s", (SEPTEMBER,)).fetchone()
    assert carried_to == db.admin.execute("select id from public.artist_statements where month = %s",
                                          (OCTOBER,)).fetchone()[0]
    assert september_id != carried_to


class FakeTransfers:
    """Stripe's POST /v1/transfers with its idempotency: the same Idempotency-Key
    replays the first answer (Stripe keeps keys for at least 24 hours). Shapes from
    Stripe's OpenAPI `transfer` object (stripe/openapi, spec3.json)."""

    def __init__(self, fail_with: list[httpx.Response] | None = None) -> None:
        self.by_key: dict[str, httpx.Response] = {}
        self.requests: list[httpx.Request] = []
        self.fail_with = fail_with or []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = request.headers["Idempotency-Key"]
        if key in self.by_key:
            return self.by_key[key]
        if self.fail_with:
            return self.fail_with.pop(0)
        body = form(request)
        transfer = {"id": new_id("tr"), "object": "transfer", "amount": int(body["amount"]), "amount_reversed": 0,
                    "balance_transaction": new_id("txn"), "created": 1793000000, "currency": body["currency"],
                    "description": body.get("description"), "destination": body["destination"],
                    "destination_payment": new_id("py"), "livemode": False,
                    "metadata": {k[9:-1]: v for k, v in body.items() if k.startswith("metadata[")},
                    "reversals": {"object": "list", "data": [], "has_more": False, "url": "/v1/transfers/x/reversals"},
                    "reversed": False, "source_transaction": None, "source_type": "card",
                    "transfer_group": body.get("transfer_group")}
        self.by_key[key] = httpx.Response(200, json=transfer, headers={"request-id": new_id("req")})
        return self.by_key[key]

    @property
    def transfers(self) -> set[str]:
        return {r.json()["id"] for r in self.by_key.values()}


def stripe_error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"type": "invalid_request_error", "code": code, "message": message}},
                          headers={"request-id": new_id("req")})


async def run_transfers(db, fake: FakeTransfers, **overrides) -> int:
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{STRIPE_API}/v1/transfers").mock(side_effect=fake)
        async with worker_context(db, **MONEY_SETTINGS, **overrides) as ctx:
            return await artists.send_transfers(ctx)


async def test_transfers_pay_each_statement_once_with_its_key(db, october):
    db.admin.execute(RUN, (OCTOBER, 5000, "user_centric", 300))
    fake = FakeTransfers()
    assert await run_transfers(db, fake) == 2
    assert await run_transfers(db, fake) == 0  # nothing left to pay
    paid = db.admin.execute("select id, artist_id, stripe_transfer_id, payable from public.artist_statements "
                            "where status = 'paid'").fetchall()
    assert {r[1] for r in paid} == {october["x"], october["y"]}
    assert len(fake.requests) == 2 and len(fake.transfers) == 2
    for statement_id, artist_id, transfer_id, payable in paid:
        request = next(r for r in fake.requests if r.headers["Idempotency-Key"] == f"artist-statement-{statement_id}")
        body = form(request)
        assert (int(body["amount"]), body["currency"], body["transfer_group"]) == (payable, "usd", "artist-payouts-2026-10")
        assert body["destination"] == {october["x"]: "acct_x", october["y"]: "acct_y"}[artist_id]
        assert body["metadata[statement_id]"] == str(statement_id)
        assert transfer_id in fake.transfers


async def test_a_crash_after_stripe_answered_pays_once(db, october, monkeypatch):
    db.admin.execute(RUN, (OCTOBER, 5000, "user_centric", 300))
    fake = FakeTransfers()

    class Crash(Exception):
        pass

    def crash_before_recording(*args, **kwargs):
        raise Crash

    with monkeypatch.context() as patch:  # the worker dies after Stripe made the transfers, before recording them
        patch.setattr(artists, "fetch_one", crash_before_recording)
        with pytest.raises(Crash):
            await run_transfers(db, fake)
    assert len(fake.transfers) == 1
    assert db.admin.execute("select count(*) from public.artist_statements where status = 'sending'").fetchone()[0] == 2
    assert await run_transfers(db, fake) == 0  # within the lease nobody touches them
    db.admin.execute("update public.artist_statements set sending_at = now() - interval '1 hour' where status = 'sending'")
    assert await run_transfers(db, fake) == 2
    assert len(fake.transfers) == 2  # the crashed one was replayed by its key, not made twice
    keys = [r.headers["Idempotency-Key"] for r in fake.requests]
    assert len(keys) == 3 and len(set(keys)) == 2
    assert db.admin.execute("select count(*) from public.artist_statements where status = 'paid'").fetchone()[0] == 2


async def test_transfer_failures_retry_or_fail_as_stripe_says(db, october):
    db.admin.execute(RUN, (OCTOBER, 5000, "user_centric", 300))
    fake = FakeTransfers(fail_with=[
        stripe_error(400, "balance_insufficient", "You have insufficient available funds in your Stripe account."),
        stripe_error(400, "resource_missing", "No such destination: 'acct_y'"),
    ])
    assert await run_transfers(db, fake) == 0
    states = dict(db.admin.execute("select status::text, last_error from public.artist_statements "
                                   "where status in ('pending', 'failed')").fetchall())
    assert set(states) == {"pending", "failed"}
    assert states["pending"].startswith("balance_insufficient") and states["failed"].startswith("resource_missing")
    assert await run_transfers(db, fake) == 1  # the balance is there now: the pending one is paid
    assert db.admin.execute("select count(*) from public.artist_statements where status = 'failed'").fetchone()[0] == 1


def test_artists_may_set_up_payouts_and_plain_listeners_may_not(db):
    artist, fan = make_artist(db), db.create_user("fan")
    assert db.admin.execute("select (private.payout_account_of(%s)).dj_id", (artist,)).fetchone() == (None,)
    with refused("PT403", "only DJs and artists"):
        db.admin.execute("select private.payout_account_of(%s)", (fan,))
