"""Reactions (issue 15): a fixed set, rate-limited per listener, counted in
durable per-room counters and broadcast aggregated (at most one `reactions`
event per room per second), exact under concurrency."""

import threading

import pytest

from tests.room import broadcasts, go_live, join, make_dj, refused
from tests.test_holes import race
from tests.test_room_ticks import SEND, TICK, batches, due_again, threshold, tick


@pytest.fixture
def room(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    return {"dj": dj_id, "session": session["id"], "listener": join(db, session["id"], "listener")}


def events(db, room):
    return broadcasts(db, f"session:{room['session']}", "reactions")


def a_second_passes(db, room):
    db.admin.execute("update private.room_event_gates set last_sent_at = last_sent_at - interval '1 second' "
                     "where topic = %s", (f"session:{room['session']}",))


def test_reactions_are_sent_aggregated_at_most_once_a_second(db, room):
    me = db.as_user(room["listener"])
    assert me.rpc("react", p_session_id=room["session"], p_kind="fire") is True
    assert [e["counts"] for e in events(db, room)] == [{"fire": 1}]  # a quiet room hears the first at once
    for kind in ("fire", "heart", "fire"):
        me.rpc("react", p_session_id=room["session"], p_kind=kind)
    assert len(events(db, room)) == 1  # within the second: counted, not sent
    a_second_passes(db, room)
    assert db.admin.execute("select private.flush_pending_reactions(100)").fetchone()[0] == 1
    assert [e["counts"] for e in events(db, room)] == [{"fire": 1}, {"fire": 2, "heart": 1}]
    a_second_passes(db, room)
    assert db.admin.execute("select private.flush_pending_reactions(100)").fetchone()[0] == 0  # nothing pending
    # The DJ reacts too; the per-session totals stay for analytics.
    db.as_user(room["dj"]).rpc("react", p_session_id=room["session"], p_kind="clap")
    assert db.admin.execute("select sum(total) from private.room_reactions").fetchone()[0] == 5


def test_who_may_react_and_what(db, room):
    with refused("PT403"):
        db.as_user(db.create_user("outsider")).rpc("react", p_session_id=room["session"], p_kind="fire")
    with refused("PT422"):
        db.as_user(room["listener"]).rpc("react", p_session_id=room["session"], p_kind="poop")
    db.as_user(room["dj"]).rpc_rows("ban_user", p_session_id=room["session"], p_user_id=room["listener"])
    with refused("PT403"):
        db.as_user(room["listener"]).rpc("react", p_session_id=room["session"], p_kind="fire")
    assert events(db, room) == []


def test_ten_reactions_per_five_seconds(db, room):
    me = db.as_user(room["listener"])
    for _ in range(10):
        me.rpc("react", p_session_id=room["session"], p_kind="heart")
    with refused("PT429", "too many") as caught:
        me.rpc("react", p_session_id=room["session"], p_kind="heart")
    assert '"retry_after"' in (caught.value.diag.message_detail or "")
    db.admin.execute("update private.reaction_senders set window_started_at = now() - interval '6 seconds'")
    assert me.rpc("react", p_session_id=room["session"], p_kind="heart") is True


def test_concurrent_reactions_are_counted_exactly(db, room):
    listeners = [join(db, room["session"], f"l{n}") for n in range(12)]

    def react_five(client, n):
        for _ in range(5):
            client.rpc("react", p_session_id=room["session"], p_kind="fire" if n % 2 else "wow")

    assert race(db, listeners, react_five) == ["ok"] * 12
    a_second_passes(db, room)
    db.admin.execute("select private.flush_pending_reactions(100)")
    sent = [e["counts"] for e in events(db, room)]
    assert sum(c.get("fire", 0) + c.get("wow", 0) for c in sent) == 60  # every one sent, none twice
    assert db.admin.execute("select sum(total), sum(pending) from private.room_reactions").fetchone() == (60, 0)


def test_gates_of_quiet_rooms_are_purged(db, room):
    db.as_user(room["listener"]).rpc("react", p_session_id=room["session"], p_kind="fire")
    db.admin.execute("select private.room_events_tick(100)")
    assert db.admin.execute("select count(*) from private.room_event_gates").fetchone()[0] == 1
    db.admin.execute("update private.room_event_gates set last_sent_at = now() - interval '25 hours'")
    db.admin.execute("select private.room_events_tick(100)")
    assert db.admin.execute("select count(*) from private.room_event_gates").fetchone()[0] == 0
    db.as_user(room["listener"]).rpc("react", p_session_id=room["session"], p_kind="fire")  # made again, sent at once
    assert len(events(db, room)) == 2


def test_a_large_room_gets_its_reactions_in_the_tick_batch_coalesced_in_order_with_chat(db):
    """Above the listener threshold, reactions ride the room's `room_batch`: one
    `reactions` change per batch carrying every reaction since the last one
    (two flushes within one tick are summed, none lost), at its place among
    the chat lines."""
    dj_id = make_dj(db)
    session = go_live(db, dj_id)["id"]
    first = join(db, session, "first")
    threshold(db, 2)
    second = join(db, session, "second")  # the room is now large
    room = {"session": session}
    before = len(broadcasts(db, f"session:{session}"))
    dj, me, other = db.as_user(dj_id), db.as_user(first), db.as_user(second)
    dj.one(SEND, (session, "one"))
    me.rpc("react", p_session_id=session, p_kind="fire")  # the room's first: published, waits for the tick
    other.rpc("react", p_session_id=session, p_kind="heart")  # within the second: counted, not yet published
    other.rpc("react", p_session_id=session, p_kind="heart")
    a_second_passes(db, room)
    me.rpc("react", p_session_id=session, p_kind="fire")  # published again: merged with the pending change
    dj.one(SEND, (session, "two"))
    assert len(broadcasts(db, f"session:{session}")) == before  # nothing at once
    tick(db)
    (batch,) = batches(db, session)
    assert [c["event"] for c in batch] == ["listener_joined", "listener_count", "message_created", "reactions",
                                           "message_created"]
    assert batch[3]["payload"] == {"session_id": str(session), "counts": {"fire": 2, "heart": 2}}
    assert [c["payload"]["body"] for c in batch if c["event"] == "message_created"] == ["one", "two"]
    # The sweep publishes what is left into the next batch; nothing goes out on its own.
    me.rpc("react", p_session_id=session, p_kind="wow")
    a_second_passes(db, room)
    assert db.admin.execute("select private.flush_pending_reactions(100)").fetchone()[0] == 1
    assert events(db, room) == []
    due_again(db)
    tick(db)
    assert batches(db, session)[-1] == [{"event": "reactions",
                                         "payload": {"session_id": str(session), "counts": {"wow": 1}}}]
    assert db.admin.execute("select sum(total), sum(pending) from private.room_reactions").fetchone() == (5, 0)


def test_concurrent_reactions_in_a_large_room_reach_the_batches_exactly(db, room):
    threshold(db, 1)
    listeners = [join(db, room["session"], f"l{n}") for n in range(8)]

    def react_three(client, n):
        for _ in range(3):
            client.rpc("react", p_session_id=room["session"], p_kind="fire")

    assert race(db, listeners, react_three) == ["ok"] * 8
    a_second_passes(db, room)
    db.admin.execute("select private.flush_pending_reactions(100)")
    tick(db)
    sent = [c["payload"]["counts"] for b in batches(db, room["session"]) for c in b if c["event"] == "reactions"]
    assert sum(c["fire"] for c in sent) == 24  # every one, none twice
    assert events(db, room) == []


def test_a_flush_while_the_ticker_sends_the_pending_reactions_loses_nothing(db, room):
    """The ticker is sending the room's pending `reactions` change when a new
    flush comes: the flush waits for it, finds it sent, and publishes only
    what is new, into the next batch (never counted twice, never dropped)."""
    threshold(db, 1)
    db.as_user(room["listener"]).rpc("react", p_session_id=room["session"], p_kind="fire")  # pending
    a_second_passes(db, room)
    flushed: list[bool] = []
    with db.connect() as ticker, db.connect("authenticator") as conn, db.connect() as watcher:
        ticker.execute("begin")
        assert ticker.execute(TICK).fetchone()[0] >= 1  # the batch is taken, not yet committed
        reacting = threading.Thread(target=lambda: flushed.append(
            db.as_user(room["listener"], conn).rpc("react", p_session_id=room["session"], p_kind="heart")))
        reacting.start()
        while not watcher.execute("select exists (select 1 from pg_locks where not granted)").fetchone()[0]:
            assert reacting.is_alive()  # the flush waits for the ticker's transaction
        ticker.execute("commit")
        reacting.join()
    assert flushed == [True]
    due_again(db)
    tick(db)
    sent = [[c["payload"]["counts"] for c in b if c["event"] == "reactions"] for b in batches(db, room["session"])]
    assert [s for s in sent if s] == [[{"fire": 1}], [{"heart": 1}]]
    assert events(db, room) == []


def test_reacting_is_writing_your_own_sender_row_and_its_rules_hold_on_a_direct_write(db, room):
    """Issue 10: react() runs as the caller; the rate limit and who may react
    are held by the grants, policies and triggers of private.reaction_senders,
    so a direct write is held to them too."""
    me = db.as_user(room["listener"])
    me.rpc("react", p_session_id=room["session"], p_kind="fire")
    with refused("42501"):  # the window is the triggers' alone: no resetting your own limit
        me.sql("update private.reaction_senders set sent_in_window = 0, window_started_at = now()")
    with refused("42501"):  # nobody reacts as someone else
        me.sql("insert into private.reaction_senders (session_id, user_id, last_kind) values (%s, %s, 'fire')",
               (room["session"], room["dj"]))
    other = db.as_user(join(db, room["session"], "other"))
    assert other.sql("update private.reaction_senders set last_kind = 'wow' returning 1") == []  # not theirs
    assert other.sql("select * from private.reaction_senders") == []
    for _ in range(9):  # a direct update is a reaction: counted, and within the same limit
        me.sql("update private.reaction_senders set last_kind = 'heart'")
    with refused("PT429"):
        me.sql("update private.reaction_senders set last_kind = 'heart'")
    with refused("PT422"):
        me.sql("update private.reaction_senders set last_kind = 'poop'")
    a_second_passes(db, room)
    db.admin.execute("select private.flush_pending_reactions(100)")
    assert [e["counts"] for e in events(db, room)] == [{"fire": 1}, {"heart": 9}]
    db.as_user(room["dj"]).rpc_rows("ban_user", p_session_id=room["session"], p_user_id=room["listener"])
    db.admin.execute("update private.reaction_senders set window_started_at = now() - interval '6 seconds'")
    with refused("PT403"):  # banned: refused on the update path as on the first reaction
        me.sql("update private.reaction_senders set last_kind = 'fire'")
