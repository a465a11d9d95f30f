"""Room ticks: a large room's events are coalesced into one `room_batch` per
tick; a small room's stay immediate; personal events stay immediate; the
ticker loses nothing when it dies, and two tickers send one batch. Votes in a
large room defer their tallies and stay exact. Auto slow mode."""

import threading

import psycopg
import pytest

from tests.room import broadcasts, go_live, join, make_dj, refused
from tests.workerhelpers import worker_context
from workers import ticks

SEND = "insert into public.messages (session_id, body) values (%s, %s) returning *"
ADD = ("insert into public.queue_items (session_id, title, artist, duration_ms, provider, provider_ref) "
       "values (%s, %s, 'Artist', 200000, 'spotify', %s) returning *")
TICK = "select private.room_tick(interval '0.9 seconds', 100, 500)"


def threshold(db, listeners: int) -> None:
    db.admin.execute("update private.room_tick_settings set listener_threshold = %s", (listeners,))


def tick(db) -> int:
    return db.admin.execute(TICK).fetchone()[0]


def due_again(db) -> None:
    """A tick later (the ticker flushes a room at most once per tick)."""
    db.admin.execute("update private.room_ticks set flushed_at = flushed_at - interval '1 second'")


def pending(db) -> int:
    return db.admin.execute("select count(*) from private.room_changes").fetchone()[0]


def batches(db, session_id) -> list[list[dict]]:
    return [b["changes"] for b in broadcasts(db, f"session:{session_id}", "room_batch")]


@pytest.fixture
def big_room(db):
    """A live room with two listeners, made 'large' by a threshold of 2 listeners."""
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    first = join(db, session["id"], "first")
    threshold(db, 2)
    second = join(db, session["id"], "second")  # the join that makes it large: itself in the batch
    return {"dj": dj_id, "session": session["id"], "listeners": [first, second]}


def test_a_small_room_gets_each_event_at_once(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    listener = join(db, session["id"], "listener")
    db.as_user(listener).one(SEND, (session["id"], "hi"))
    events = sorted(e["event"] for e in broadcasts(db, f"session:{session['id']}"))  # one each, at once
    assert events == ["listener_count", "listener_joined", "message_created"]
    assert pending(db) == 0 and tick(db) == 0


def test_a_large_room_gets_one_batch_per_tick_in_order(db, big_room):
    topic = f"session:{big_room['session']}"
    before = len(broadcasts(db, topic))
    first, second = (db.as_user(u) for u in big_room["listeners"])
    sent = [first.one(SEND, (big_room["session"], "one")), second.one(SEND, (big_room["session"], "two"))]
    db.as_user(big_room["dj"]).sql("update public.sessions set title = 'Renamed' where id = %s", (big_room["session"],))
    db.as_user(big_room["dj"]).one(SEND, (big_room["session"], "three"))
    assert len(broadcasts(db, topic)) == before  # nothing at once
    assert tick(db) == 6  # the second join, its count, three lines, one settings change
    (batch,) = batches(db, big_room["session"])
    assert [c["event"] for c in batch] == ["listener_joined", "listener_count", "message_created", "message_created",
                                           "session_updated", "message_created"]
    assert [c["payload"]["body"] for c in batch if c["event"] == "message_created"] == ["one", "two", "three"]
    assert [c["payload"]["id"] for c in batch if c["event"] == "message_created"] == [m["id"] for m in sent] + [
        batch[-1]["payload"]["id"]]
    assert batch[4]["payload"]["title"] == "Renamed"
    assert pending(db) == 0


def test_changes_of_one_kind_coalesce_to_the_latest(db, big_room):
    s = big_room["session"]
    dj = db.as_user(big_room["dj"])
    for title in ("a", "b", "c"):
        dj.sql("update public.sessions set title = %s where id = %s", (title, s))
    late = join(db, s, "late")
    db.as_user(late).rpc("leave_session", p_session_id=s)
    tick(db)
    (batch,) = batches(db, s)
    assert [c["payload"]["title"] for c in batch if c["event"] == "session_updated"] == ["c"]
    counts = [c["payload"]["listener_count"] for c in batch if c["event"] == "listener_count"]
    assert counts == [2]  # 2, 3, 2: only the latest, placed where the latest was published
    assert [c["event"] for c in batch][-1] == "listener_count"
    assert [c["payload"]["user_id"] for c in batch if c["event"] == "listener_joined"][-1] == str(late)


def test_summed_changes_add_up(db, big_room):
    """The documented way another kind of room change (reactions) plugs in."""
    s = big_room["session"]
    for emoji, n in (("fire", 1), ("heart", 1), ("fire", 2)):
        db.admin.execute("select private.room_publish(%s, 'reactions', jsonb_build_object('emoji', %s::text, 'count', %s), "
                         "'reactions:' || %s, 'sum')", (s, emoji, n, emoji))
    tick(db)
    (batch,) = batches(db, s)
    reactions = {c["payload"]["emoji"]: c["payload"]["count"] for c in batch if c["event"] == "reactions"}
    assert reactions == {"fire": 3, "heart": 1}


def test_a_large_room_gets_at_most_one_batch_per_tick(db, big_room):
    s = big_room["session"]
    listener = db.as_user(big_room["listeners"][0])
    tick(db)
    listener.one(SEND, (s, "after the first batch"))
    assert tick(db) == 0  # flushed less than a tick ago: it waits
    assert len(batches(db, s)) == 1 and pending(db) == 1
    due_again(db)
    assert tick(db) == 1
    assert [c["payload"]["body"] for c in batches(db, s)[1]] == ["after the first batch"]


def test_a_batch_stays_within_the_broadcast_payload_limit(db, big_room):
    s = big_room["session"]
    tick(db)
    for n in range(3):
        db.admin.execute("select private.room_publish(%s, 'big', jsonb_build_object('n', %s::int, 'blob', repeat('x', 90000)))",
                         (s, n))
    due_again(db)
    assert tick(db) == 2  # 180 kB; the third would pass 200 kB
    due_again(db)
    assert tick(db) == 1
    assert [[c["payload"]["n"] for c in b] for b in batches(db, s)[1:]] == [[0, 1], [2]]


def test_once_a_change_is_pending_later_events_queue_behind_it(db):
    """A small room with a deferred change (a throttled count) keeps its order."""
    dj_id = make_dj(db)
    s = go_live(db, dj_id)["id"]
    listener = join(db, s, "listener")
    db.admin.execute("select private.room_publish(%s, 'listener_count', '{\"listener_count\": 1}', 'listener_count', "
                     "'last', true)", (s,))
    db.as_user(listener).one(SEND, (s, "behind the count"))
    assert broadcasts(db, f"session:{s}", "message_created") == []
    tick(db)
    (batch,) = batches(db, s)
    assert [c["event"] for c in batch] == ["listener_count", "message_created"]
    due_again(db)
    db.as_user(dj_id).one(SEND, (s, "at once again"))
    assert [e["body"] for e in broadcasts(db, f"session:{s}", "message_created")] == ["at once again"]


def test_personal_events_stay_immediate_in_a_large_room(db, big_room):
    target = big_room["listeners"][0]
    db.as_user(big_room["dj"]).rpc_rows("timeout_user", p_session_id=big_room["session"], p_user_id=target,
                                        p_seconds=30)
    (sanction,) = broadcasts(db, f"user:{target}", "sanctioned")
    assert sanction["kind"] == "timeout"


def test_the_end_of_a_large_room_comes_after_its_pending_changes(db, big_room):
    s = big_room["session"]
    db.as_user(big_room["listeners"][0]).one(SEND, (s, "bye"))
    db.as_user(big_room["dj"]).rpc_rows("end_session", p_session_id=s)
    tick(db)
    (batch,) = batches(db, s)
    assert [c["event"] for c in batch][-2:] == ["message_created", "session_ended"]
    assert "listener_left" not in [c["event"] for c in batch]  # the end says it all


def test_a_ticker_that_dies_mid_run_loses_nothing(db, big_room):
    s = big_room["session"]
    db.as_user(big_room["listeners"][0]).one(SEND, (s, "kept"))
    waiting = pending(db)
    with db.connect() as doomed:
        doomed.execute("begin")
        assert doomed.execute(TICK).fetchone()[0] == waiting  # built and "sent", not committed
        pid = doomed.info.backend_pid
        db.admin.execute("select pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.OperationalError):
            doomed.execute("commit")
    assert batches(db, s) == [] and pending(db) == waiting
    assert tick(db) == waiting
    (batch,) = batches(db, s)
    assert batch[-1]["payload"]["body"] == "kept"


def test_two_tickers_at_once_send_one_batch_and_never_wait(db, big_room):
    s = big_room["session"]
    tick(db)  # the room's ticker row exists now
    due_again(db)
    db.as_user(big_room["listeners"][0]).one(SEND, (s, "once"))
    results = {}
    with db.connect() as first:
        first.execute("begin")
        results["first"] = first.execute(TICK).fetchone()[0]  # holds the room
        with db.connect() as second:
            second.execute("set lock_timeout = '2s'")  # waiting on the first would fail this test
            results["second"] = second.execute(TICK).fetchone()[0]
        first.execute("commit")
    assert results == {"first": 1, "second": 0}
    with db.connect() as late:  # and after the first commits, the room is not due again this tick
        assert late.execute(TICK).fetchone()[0] == 0
    assert len(batches(db, s)) == 2 and batches(db, s)[1][0]["payload"]["body"] == "once"


def test_tickers_racing_on_new_rooms_send_each_change_once(db):
    threshold(db, 0)
    rooms = [go_live(db, make_dj(db, f"dj{n}"))["id"] for n in range(4)]
    for n, s in enumerate(rooms):
        db.as_user(db.admin.execute("select dj_id from public.sessions where id = %s", (s,)).fetchone()[0]).one(
            SEND, (s, f"room {n}"))
    barrier = threading.Barrier(3)
    sent = []

    def run():
        with db.connect() as conn:
            barrier.wait()
            sent.append(conn.execute(TICK).fetchone()[0])

    threads = [threading.Thread(target=run) for _ in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sum(sent) == 4  # each room's line, once
    assert all(len(batches(db, s)) == 1 for s in rooms)


def test_votes_in_a_large_room_defer_their_tallies_and_stay_exact(db, big_room):
    s = big_room["session"]
    dj = db.as_user(big_room["dj"])
    hot, cold = dj.one(ADD, (s, "hot", "hot")), dj.one(ADD, (s, "cold", "cold"))
    first, second = (db.as_user(u) for u in big_room["listeners"])
    assert first.rpc_rows("vote", p_item_id=hot["id"], p_value=1)[0]["up_votes"] == 1
    after = second.rpc_rows("vote", p_item_id=hot["id"], p_value=1)[0]
    assert (after["up_votes"], after["score"]) == (2, 2)  # exact before any tick
    second.rpc_rows("vote", p_item_id=cold["id"], p_value=-1)
    first.rpc_rows("vote", p_item_id=hot["id"], p_value=-1)
    row = db.admin.execute("select up_votes, down_votes from public.queue_items where id = %s", (hot["id"],)).fetchone()
    assert row == (0, 0)  # not on the row yet
    queue = {r["title"]: r for r in first.rpc_rows("session_queue", p_session_id=s)}
    assert (queue["hot"]["up_votes"], queue["hot"]["down_votes"], queue["hot"]["score"]) == (1, 1, 0)
    assert [r["title"] for r in first.rpc_rows("session_queue", p_session_id=s)] == ["hot", "cold"]
    tick(db)
    (batch,) = batches(db, s)
    tallies = {c["payload"]["id"]: c["payload"] for c in batch if c["event"] == "queue_item_votes"}
    assert len([c for c in batch if c["event"] == "queue_item_votes"]) == 2  # one per song, not one per vote
    assert (tallies[hot["id"]]["up_votes"], tallies[hot["id"]]["down_votes"]) == (1, 1)
    assert tallies[cold["id"]]["score"] == -1
    rows = db.admin.execute("select id, up_votes, down_votes from public.queue_items order by id").fetchall()
    assert rows == [(hot["id"], 1, 1), (cold["id"], 0, 1)]
    assert db.admin.execute("select count(*) from private.queue_vote_deltas").fetchone()[0] == 0


def test_a_song_leaving_the_queue_carries_its_exact_tally(db, big_room):
    s = big_room["session"]
    item = db.as_user(big_room["dj"]).one(ADD, (s, "song", "song"))
    for listener in big_room["listeners"]:
        db.as_user(listener).rpc_rows("vote", p_item_id=item["id"], p_value=1)
    db.as_user(big_room["dj"]).rpc_rows("advance", p_session_id=s)  # it starts playing: folded now
    assert db.admin.execute("select status, up_votes from public.queue_items where id = %s",
                            (item["id"],)).fetchone() == ("playing", 2)


def test_a_stranger_sees_no_pending_votes(db, big_room):
    s = big_room["session"]
    item = db.as_user(big_room["dj"]).one(ADD, (s, "song", "song"))
    db.as_user(big_room["listeners"][0]).rpc_rows("vote", p_item_id=item["id"], p_value=1)
    stranger = db.as_user(db.create_user("stranger"))
    assert stranger.sql("select * from private.pending_votes(%s)", (s,)) == []
    assert len(db.as_user(big_room["dj"]).sql("select * from private.pending_votes(%s)", (s,))) == 1


async def test_the_worker_job_sends_the_batches(db, big_room):
    db.as_user(big_room["listeners"][0]).one(SEND, (big_room["session"], "via the worker"))
    waiting = pending(db)
    async with worker_context(db) as ctx:
        assert await ticks.room_tick(ctx) == waiting
    assert pending(db) == 0
    assert batches(db, big_room["session"])[0][-1]["payload"]["body"] == "via the worker"


def test_auto_slow_mode_grows_with_the_room(db):
    sizes = {0: 0, 199: 0, 200: 5, 1000: 12, 10000: 35, 100000: 111, 1000000: 120}
    got = {n: db.admin.execute("select private.auto_slow_mode_seconds(%s)", (n,)).fetchone()[0] for n in sizes}
    assert got == sizes


def test_auto_slow_mode_applies_unless_the_djs_is_stricter(db):
    dj_id = make_dj(db)
    s = go_live(db, dj_id)["id"]
    listener = db.as_user(join(db, s, "listener"))
    db.admin.execute("update public.sessions set listener_count = 1000 where id = %s", (s,))
    listener.one(SEND, (s, "first"))
    db.admin.execute("update public.session_participants set last_message_at = now() - interval '5 seconds'")
    with refused("PT429", "slow mode: wait 7 s"):  # 12 s at 1,000 listeners, 5 s ago
        listener.one(SEND, (s, "too soon"))
    db.as_user(dj_id).sql("update public.sessions set slow_mode_seconds = 30 where id = %s", (s,))
    db.admin.execute("update public.session_participants set last_message_at = now() - interval '13 seconds'")
    with refused("PT429", "slow mode: wait 17 s"):  # the DJ's 30 s is stricter
        listener.one(SEND, (s, "still too soon"))
    db.as_user(dj_id).sql("update public.sessions set slow_mode_seconds = 0 where id = %s", (s,))
    listener.one(SEND, (s, "12 s later is fine"))
    db.as_user(dj_id).one(SEND, (s, "the DJ is exempt"))
    db.as_user(dj_id).one(SEND, (s, "always"))
    db.admin.execute("update public.sessions set listener_count = 10 where id = %s", (s,))
    db.admin.execute("update public.session_participants set last_message_at = now() - interval '4 seconds'")
    listener.one(SEND, (s, "a small room: 3 s"))
