"""The shared queue: adding songs and its limits, votes with exact tallies,
fair auto-play, the fallback list, skip votes, now playing."""

import threading

import psycopg
import pytest

from tests.room import broadcasts, go_live, join, make_dj, refused, session_row

ADD = ("insert into public.queue_items (session_id, title, artist, duration_ms, provider, provider_ref) "
       "values (%s, %s, 'Artist', %s, 'spotify', %s) returning *")


def add(client, session_id, ref, *, title=None, duration_ms=200_000):
    return client.one(ADD, (session_id, title or ref, duration_ms, ref))


@pytest.fixture
def room(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    return {"dj": dj_id, "session": session["id"], "listener": join(db, session["id"], "listener")}


def play_order(db, room, viewer=None):
    rows = db.as_user(viewer or room["dj"]).rpc_rows("session_queue", p_session_id=room["session"])
    return [r["title"] for r in rows]


def advance(db, room):
    return db.as_user(room["dj"]).rpc_rows("advance", p_session_id=room["session"])[0]


def test_participants_add_songs_and_the_room_sees_them(db, room):
    item = add(db.as_user(room["listener"]), room["session"], "spotify:track:1", title="  Song  ")
    assert (item["status"], item["added_by"], item["title"], item["score"]) == ("queued", room["listener"], "Song", 0)
    assert play_order(db, room, room["listener"]) == ["Song"]
    stranger = db.as_user(db.create_user("stranger"))
    assert stranger.sql("select * from public.queue_items") == []
    with refused("PT403", "join the session to add songs"):
        add(stranger, room["session"], "spotify:track:2")
    (added,) = broadcasts(db, f"session:{room['session']}", "queue_item_added")
    assert added["title"] == "Song"


def test_the_dj_locks_the_queue_but_can_always_add(db, room):
    db.as_user(room["dj"]).sql("update public.sessions set queue_locked = true where id = %s", (room["session"],))
    with refused("PT403", "not taking requests"):
        add(db.as_user(room["listener"]), room["session"], "a")
    add(db.as_user(room["dj"]), room["session"], "b", duration_ms=3_000_000)


def test_queue_limits(db, room):
    db.as_user(room["dj"]).sql("update public.sessions set max_songs_per_user = 2, max_song_duration_seconds = 300, "
                               "replay_cooldown_minutes = 30 where id = %s", (room["session"],))
    listener = db.as_user(room["listener"])
    with refused("PT422", "at most 5"):
        add(listener, room["session"], "long", duration_ms=301_000)
    add(listener, room["session"], "one")
    with refused("PT409", "already in the queue"):
        add(db.as_user(room["dj"]), room["session"], "ONE")  # same provider reference, any case
    add(listener, room["session"], "two")
    with refused("PT403", "already have 2 songs"):
        add(listener, room["session"], "three")
    advance(db, room)  # "one" plays
    advance(db, room)  # "one" played, "two" plays
    with refused("PT409", r"played 0 min ago; it can come back after 30 min"):
        add(listener, room["session"], "one")
    db.admin.execute("update public.queue_items set ended_at = now() - interval '31 minutes' where title = 'one'")
    add(listener, room["session"], "one")


def test_the_listeners_plan_caps_their_songs(db, room):
    db.admin.execute("update public.plans set max_queued_songs_per_listener = 1 where id = 'free'")
    add(db.as_user(room["listener"]), room["session"], "a")
    with refused("PT403", "already have 1 songs"):
        add(db.as_user(room["listener"]), room["session"], "b")


def test_votes_change_and_withdraw(db, room):
    item = add(db.as_user(room["dj"]), room["session"], "a")
    voter = db.as_user(room["listener"])
    spaced = "update public.session_participants set last_vote_event_at = now() - interval '1 minute'"
    assert voter.rpc_rows("vote", p_item_id=item["id"], p_value=1)[0]["up_votes"] == 1
    db.admin.execute(spaced)  # a voter's changes broadcast at most once per 2 s (tests/test_holes.py)
    after_change = voter.rpc_rows("vote", p_item_id=item["id"], p_value=-1)[0]
    assert (after_change["up_votes"], after_change["down_votes"], after_change["score"]) == (0, 1, -1)
    db.admin.execute(spaced)
    after_withdraw = voter.rpc_rows("vote", p_item_id=item["id"], p_value=0)[0]
    assert (after_withdraw["up_votes"], after_withdraw["down_votes"]) == (0, 0)
    with refused("PT422", "1 \\(up\\), -1"):
        voter.rpc_rows("vote", p_item_id=item["id"], p_value=5)
    events = broadcasts(db, f"session:{room['session']}", "queue_item_votes")
    assert [e["score"] for e in events] == [1, -1, 0]


def test_vote_rules(db, room):
    item = add(db.as_user(room["dj"]), room["session"], "a")
    with refused("PT403", "join the session to vote"):
        db.as_user(db.create_user("stranger")).rpc_rows("vote", p_item_id=item["id"], p_value=1)
    db.as_user(room["dj"]).sql("update public.sessions set voting_enabled = false where id = %s", (room["session"],))
    with refused("PT403", "turned voting off"):
        db.as_user(room["listener"]).rpc_rows("vote", p_item_id=item["id"], p_value=1)
    db.as_user(room["dj"]).sql("update public.sessions set voting_enabled = true where id = %s", (room["session"],))
    db.as_user(room["dj"]).rpc_rows("remove_from_queue", p_item_id=item["id"])
    with refused("PT409", "voting on this song is over"):
        db.as_user(room["listener"]).rpc_rows("vote", p_item_id=item["id"], p_value=1)
    assert db.as_user(room["listener"]).sql("select * from public.queue_votes") == []


def test_tallies_stay_exact_under_many_concurrent_voters(db, room):
    item = add(db.as_user(room["dj"]), room["session"], "hot")
    voters = [join(db, room["session"], f"v{n}") for n in range(30)]
    barrier = threading.Barrier(len(voters))

    def vote(n, user_id):
        with db.connect("authenticator") as conn:
            client = db.as_user(user_id, conn)
            barrier.wait()
            client.rpc_rows("vote", p_item_id=item["id"], p_value=1 if n % 3 else -1)
            if n % 5 == 0:
                client.rpc_rows("vote", p_item_id=item["id"], p_value=0)
            elif n % 7 == 0:
                client.rpc_rows("vote", p_item_id=item["id"], p_value=-1)

    threads = [threading.Thread(target=vote, args=(n, u)) for n, u in enumerate(voters)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    tally = db.admin.execute("select up_votes, down_votes, score from public.queue_items where id = %s",
                             (item["id"],)).fetchone()
    truth = db.admin.execute("select count(*) filter (where value = 1), count(*) filter (where value = -1) "
                             "from public.queue_votes where item_id = %s", (item["id"],)).fetchone()
    assert tally[:2] == truth and tally[2] == truth[0] - truth[1]
    assert sum(truth) == len([n for n in range(30) if n % 5])


def test_advance_plays_the_best_score_then_the_earliest(db, room):
    db.as_user(room["dj"]).sql("update public.sessions set fairness_enabled = false where id = %s", (room["session"],))
    dj = db.as_user(room["dj"])
    first, second, third = (add(dj, room["session"], ref) for ref in ("first", "second", "third"))
    db.as_user(room["listener"]).rpc_rows("vote", p_item_id=third["id"], p_value=1)
    assert play_order(db, room) == ["third", "first", "second"]
    playing = advance(db, room)
    assert (playing["title"], playing["status"]) == ("third", "playing")
    assert advance(db, room)["title"] == "first"
    history = db.as_user(room["listener"]).sql(
        "select title, status from public.queue_items where status in ('played', 'skipped') order by started_at")
    assert history == [{"title": "third", "status": "played"}]


def test_fairness_one_user_with_ten_songs_and_three_with_one_each(db, room):
    hog = room["listener"]
    others = [join(db, room["session"], name) for name in ("b", "c", "d")]
    db.as_user(room["dj"]).sql("update public.sessions set max_songs_per_user = 10 where id = %s", (room["session"],))
    db.admin.execute("update public.plans set max_queued_songs_per_listener = 10")
    for n in range(10):
        add(db.as_user(hog), room["session"], f"hog{n}")
    for user_id, name in zip(others, ("b", "c", "d"), strict=True):
        add(db.as_user(user_id), room["session"], f"{name}0")
    expected = ["hog0", "b0", "c0", "d0"] + [f"hog{n}" for n in range(1, 10)]
    assert play_order(db, room) == expected
    played = [advance(db, room)["title"] for _ in range(13)]
    assert played == expected


def test_fairness_gives_way_to_a_clearly_better_score(db, room):
    hog = room["listener"]
    other = join(db, room["session"], "other")
    for n in range(3):
        add(db.as_user(hog), room["session"], f"hog{n}")
    other_song = add(db.as_user(other), room["session"], "other0")
    voters = [join(db, room["session"], f"v{n}") for n in range(2)]
    hog_last = db.admin.execute("select id from public.queue_items where title = 'hog2'").fetchone()[0]
    for voter in voters:
        db.as_user(voter).rpc_rows("vote", p_item_id=hog_last, p_value=1)  # score 2: a higher band
    db.as_user(voters[0]).rpc_rows("vote", p_item_id=other_song["id"], p_value=1)  # score 1: same band as 0
    assert play_order(db, room) == ["hog2", "other0", "hog0", "hog1"]


def test_fairness_off_is_plain_score_then_arrival(db, room):
    db.as_user(room["dj"]).sql("update public.sessions set fairness_enabled = false where id = %s", (room["session"],))
    for n in range(3):
        add(db.as_user(room["listener"]), room["session"], f"hog{n}")
    add(db.as_user(join(db, room["session"], "other")), room["session"], "other0")
    assert play_order(db, room) == ["hog0", "hog1", "hog2", "other0"]


def test_dj_pins_reorders_and_removes(db, room):
    dj = db.as_user(room["dj"])
    a, b, c, d = (add(dj, room["session"], ref) for ref in "abcd")
    dj.rpc_rows("reorder_queue", p_session_id=room["session"], p_item_ids=[c["id"], b["id"]])
    assert play_order(db, room) == ["c", "b", "a", "d"]
    dj.rpc_rows("pin_next", p_item_id=d["id"])
    assert play_order(db, room) == ["d", "c", "b", "a"]
    removed = dj.rpc_rows("remove_from_queue", p_item_id=a["id"])[0]
    assert (removed["status"], removed["removed_by"]) == ("removed", room["dj"])
    assert play_order(db, room) == ["d", "c", "b"]
    assert db.as_user(room["dj"]).value("select count(*) from public.queue_items where status = 'removed'") == 1
    with refused("PT403", "only the session's DJ"):
        db.as_user(room["listener"]).rpc_rows("pin_next", p_item_id=b["id"])
    with refused("PT403", "only the DJ or whoever added it"):
        db.as_user(room["listener"]).rpc_rows("remove_from_queue", p_item_id=b["id"])
    own = add(db.as_user(room["listener"]), room["session"], "mine")
    db.as_user(room["listener"]).rpc_rows("remove_from_queue", p_item_id=own["id"])


def test_the_fallback_list_plays_when_the_queue_is_empty(db, room):
    dj = db.as_user(room["dj"])
    for position, ref in enumerate(["fb1", "fb2"]):
        dj.sql("insert into public.dj_fallback_tracks (position, title, artist, duration_ms, provider, provider_ref) "
               "values (%s, %s, 'DJ', 180000, 'spotify', %s)", (position, ref, ref))
    assert advance(db, room)["title"] == "fb1"
    assert advance(db, room)["title"] == "fb2"
    assert advance(db, room)["title"] is None  # both within the replay cooldown
    dj.sql("update public.sessions set fallback_enabled = false where id = %s", (room["session"],))
    db.admin.execute("update public.queue_items set ended_at = now() - interval '2 hours'")
    assert advance(db, room)["id"] is None


def test_concurrent_advances_leave_exactly_one_song_playing(db, room):
    dj = db.as_user(room["dj"])
    for n in range(6):
        add(dj, room["session"], f"s{n}")
    current = advance(db, room)
    barrier = threading.Barrier(4)
    results = []

    def call():
        with db.connect("authenticator") as conn:
            barrier.wait()
            row = db.as_user(room["dj"], conn).rpc_rows("advance", p_session_id=room["session"],
                                                        p_expected_item_id=current["id"])[0]
            results.append(row["title"])

    threads = [threading.Thread(target=call) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert results == ["s1"] * 4  # one track end advanced once; the other calls saw it
    assert db.admin.execute("select count(*) from public.queue_items where status = 'playing'").fetchone()[0] == 1
    assert db.admin.execute("select count(*) from public.queue_items where status = 'played'").fetchone()[0] == 1

    unguarded = []

    def call_unguarded():
        with db.connect("authenticator") as conn:
            unguarded.append(db.as_user(room["dj"], conn).rpc_rows("advance", p_session_id=room["session"])[0]["title"])

    threads = [threading.Thread(target=call_unguarded) for _ in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(unguarded) == ["s2", "s3", "s4"]
    assert db.admin.execute("select count(*) from public.queue_items where status = 'playing'").fetchone()[0] == 1


def test_only_the_dj_advances_and_skips(db, room):
    add(db.as_user(room["dj"]), room["session"], "a")
    with refused("PT403", "only the session's DJ"):
        db.as_user(room["listener"]).rpc_rows("advance", p_session_id=room["session"])
    advance(db, room)
    skipped = db.as_user(room["dj"]).rpc_rows("skip", p_session_id=room["session"])[0]
    assert skipped["id"] is None
    assert db.admin.execute("select status from public.queue_items").fetchone()[0] == "skipped"


@pytest.mark.parametrize(("active", "threshold"), [(0, 1), (1, 1), (2, 2), (3, 3), (10, 5), (100, 10), (1000, 14),
                                                   (10000, 19)])
def test_skip_threshold_grows_logarithmically(db, active, threshold):
    assert db.admin.execute("select private.skip_threshold(%s)", (active,)).fetchone()[0] == threshold


def test_skip_votes_count_only_recently_seen_listeners(db, room):
    dj = db.as_user(room["dj"])
    add(dj, room["session"], "boring")
    add(dj, room["session"], "next")
    advance(db, room)
    listeners = [room["listener"]] + [join(db, room["session"], f"l{n}") for n in range(3)]  # 4 active: threshold 4
    idle = listeners[3]
    db.admin.execute("update public.session_participants set last_seen_at = now() - interval '10 minutes' "
                     "where user_id = %s", (idle,))  # 3 active now: threshold 3
    first = db.as_user(listeners[0]).rpc("vote_skip", p_session_id=room["session"])
    assert (first["votes"], first["threshold"], first["skipped"]) == (1, 3, False)
    again = db.as_user(listeners[0]).rpc("vote_skip", p_session_id=room["session"])
    assert again["votes"] == 1  # one vote per listener
    now = db.as_user(listeners[1]).rpc_rows("now_playing", p_session_id=room["session"])[0]
    assert (now["title"], now["skip_votes"], now["skip_threshold"]) == ("boring", 1, 3)
    db.as_user(listeners[1]).rpc("vote_skip", p_session_id=room["session"])
    last = db.as_user(listeners[2]).rpc("vote_skip", p_session_id=room["session"])
    assert last["skipped"] is True
    assert db.as_user(room["dj"]).rpc_rows("now_playing", p_session_id=room["session"])[0]["title"] == "next"
    progress = broadcasts(db, f"session:{room['session']}", "skip_votes")
    assert [e["votes"] for e in progress] == [1, 1, 2, 3]
    with refused("PT403", "join the session"):
        db.as_user(db.create_user("stranger")).rpc("vote_skip", p_session_id=room["session"])


def test_now_playing_gives_late_joiners_the_position(db, room):
    add(db.as_user(room["dj"]), room["session"], "tune")
    advance(db, room)
    db.admin.execute("update public.queue_items set started_at = now() - interval '95 seconds' where status = 'playing'")
    late = join(db, room["session"], "late")
    now = db.as_user(late).rpc_rows("now_playing", p_session_id=room["session"])[0]
    assert now["title"] == "tune" and 95_000 <= now["position_ms"] < 100_000
    events = [e["event"] for e in broadcasts(db, f"session:{room['session']}")]
    assert "now_playing" in events
    assert db.as_user(db.create_user("stranger")).rpc_rows("now_playing", p_session_id=room["session"]) == []


def test_queue_settings_are_broadcast_and_validated(db, room):
    dj = db.as_user(room["dj"])
    dj.sql("update public.sessions set queue_locked = true where id = %s", (room["session"],))
    (update,) = broadcasts(db, f"session:{room['session']}", "session_updated")
    assert update["queue_locked"] is True
    with pytest.raises(psycopg.errors.CheckViolation, match="sessions_max_songs_per_user_range"):
        dj.sql("update public.sessions set max_songs_per_user = 0 where id = %s", (room["session"],))
    assert session_row(db, room["session"])["max_songs_per_user"] == 10


# Direct writes (PostgREST PATCH / POST on the tables) can do nothing the RPCs cannot (issue 10).

def status_of(db, item_id):
    return db.admin.execute("select status from public.queue_items where id = %s", (item_id,)).fetchone()[0]


def test_a_direct_update_of_a_song_only_removes_or_pins_as_the_rpcs_do(db, room):
    listener, dj = db.as_user(room["listener"]), db.as_user(room["dj"])
    mine, djs = add(listener, room["session"], "mine"), add(dj, room["session"], "djs")
    for column, value in (("title", "'x'"), ("skip_votes", "99"), ("dj_position", "1"), ("up_votes", "5"),
                          ("added_by", "null"), ("session_id", "session_id"), ("ended_at", "now()")):
        for client in (listener, dj):
            with refused("42501"):  # column grants: status and pinned_at only
                client.sql(f"update public.queue_items set {column} = {value} where id = %s", (mine["id"],))
    with refused("PT403", "only the session's DJ"):
        listener.sql("update public.queue_items set pinned_at = now() where id = %s", (mine["id"],))
    for client in (listener, dj):
        with refused("PT403", "only by advance"):
            client.sql("update public.queue_items set status = 'playing' where id = %s", (mine["id"],))
    # someone else's song, or a stranger: the policy leaves nothing to update
    assert listener.sql("update public.queue_items set status = 'removed' where id = %s returning id", (djs["id"],)) == []
    stranger = db.as_user(db.create_user("stranger"))
    assert stranger.sql("update public.queue_items set status = 'removed' returning id") == []
    assert (status_of(db, mine["id"]), status_of(db, djs["id"])) == ("queued", "queued")
    # the DJ pins: the pin is stamped now, whatever the request says
    pinned = dj.one("update public.queue_items set pinned_at = '2100-01-01' where id = %s returning pinned_at, "
                    "pinned_at <= now() as now_or_before", (djs["id"],))
    assert pinned["now_or_before"] is True
    removed = listener.one("update public.queue_items set status = 'removed' where id = %s "
                           "returning removed_by, ended_at", (mine["id"],))
    assert removed["removed_by"] == room["listener"] and removed["ended_at"] is not None
    with refused("PT409", "this song is removed, not queued"):
        listener.sql("update public.queue_items set status = 'queued' where id = %s", (mine["id"],))
    playing = advance(db, room)
    assert playing["id"] == djs["id"]
    for change in ("status = 'removed'", "pinned_at = now()"):
        with refused("PT409"):
            dj.sql(f"update public.queue_items set {change} where id = %s", (djs["id"],))


def test_who_added_a_song_may_not_remove_it_once_out_of_the_room(db, room):
    listener = db.as_user(room["listener"])
    mine = add(listener, room["session"], "mine")
    db.as_user(room["dj"]).rpc_rows("ban_user", p_session_id=room["session"], p_user_id=room["listener"])
    assert listener.sql("update public.queue_items set status = 'removed' where id = %s returning id",
                        (mine["id"],)) == []
    with refused("PT403", "only the DJ or whoever added it"):
        listener.rpc_rows("remove_from_queue", p_item_id=mine["id"])
    assert status_of(db, mine["id"]) == "queued"


def test_queue_commands_are_the_djs_alone(db, room):
    dj = db.as_user(room["dj"])
    add(dj, room["session"], "a")
    add(dj, room["session"], "b")
    playing = advance(db, room)
    other_dj = make_dj(db, "other_dj")
    for user in (room["listener"], other_dj, db.create_user("stranger")):
        with refused("42501"):
            db.as_user(user).sql("insert into public.queue_commands (session_id, command) values (%s, 'skip')",
                                 (room["session"],))
    with refused("42501"):  # the actor is whoever asks
        dj.sql("insert into public.queue_commands (session_id, actor_id, command) values (%s, %s, 'skip')",
               (room["session"], room["listener"]))
    with refused("42501"):  # another DJ's room
        db.as_user(other_dj).sql("insert into public.queue_commands (session_id, command) values (%s, 'advance')",
                                 (go_live(db, make_dj(db, "third_dj"))["id"],))
    assert status_of(db, playing["id"]) == "playing"
    # the DJ's own insert is what skip() does
    dj.sql("insert into public.queue_commands (session_id, command) values (%s, 'skip')", (room["session"],))
    assert status_of(db, playing["id"]) == "skipped"
    log = dj.sql("select command, actor_id from public.queue_commands order by id")
    assert [(r["command"], r["actor_id"]) for r in log] == [("advance", room["dj"]), ("skip", room["dj"])]
    assert db.as_user(room["listener"]).sql("select * from public.queue_commands") == []


def test_a_direct_skip_vote_is_a_present_listeners_on_the_playing_song(db, room):
    dj = db.as_user(room["dj"])
    add(dj, room["session"], "boring")
    waiting = add(dj, room["session"], "waiting")
    playing = advance(db, room)
    for _ in range(4):
        join(db, room["session"])  # 5 active listeners: threshold 4, one vote does not skip
    banned = join(db, room["session"], "banned")
    dj.rpc_rows("ban_user", p_session_id=room["session"], p_user_id=banned)
    left = join(db, room["session"], "left")
    db.as_user(left).rpc_rows("leave_session", p_session_id=room["session"])
    vote = "insert into public.skip_votes (item_id) values (%s)"
    for user in (db.create_user("stranger"), banned, left, room["dj"]):
        with refused("42501"):
            db.as_user(user).sql(vote, (playing["id"],))
    listener = db.as_user(room["listener"])
    with refused("42501"):  # not the playing song
        listener.sql(vote, (waiting["id"],))
    with refused("42501"):  # the voter is whoever asks
        listener.sql("insert into public.skip_votes (item_id, user_id) values (%s, %s)", (playing["id"], left))
    assert db.admin.execute("select count(*) from public.skip_votes").fetchone()[0] == 0
    listener.sql(vote, (playing["id"],))  # what vote_skip does: counted on the song's row
    now = listener.rpc_rows("now_playing", p_session_id=room["session"])[0]
    assert (now["skip_votes"], now["skip_threshold"]) == (1, 4)
    listener.sql("update public.skip_votes set created_at = '2000-01-01'")
    assert db.admin.execute("select created_at > now() - interval '1 minute' from public.skip_votes").fetchone()[0]
    assert db.admin.execute("select skip_votes from public.queue_items where id = %s",
                            (playing["id"],)).fetchone()[0] == 1


def test_concurrent_skip_votes_skip_the_song_once_with_exact_counts(db, room):
    dj = db.as_user(room["dj"])
    add(dj, room["session"], "boring")
    add(dj, room["session"], "next")
    playing = advance(db, room)
    voters = [room["listener"]] + [join(db, room["session"], f"v{n}") for n in range(5)]  # 6 active: threshold 4
    barrier = threading.Barrier(len(voters))
    results, refusals = [], []

    def vote(user):
        with db.connect("authenticator") as conn:
            barrier.wait()
            try:
                results.append(db.as_user(user, conn).rpc("vote_skip", p_session_id=room["session"]))
            except psycopg.Error as exc:
                refusals.append((exc.sqlstate, str(exc).splitlines()[0]))

    threads = [threading.Thread(target=vote, args=(u,)) for u in voters]
    [t.start() for t in threads]
    [t.join() for t in threads]
    counted = [r for r in results if r["item_id"] == playing["id"]]
    assert sorted(r["votes"] for r in counted) == [1, 2, 3, 4]
    assert [r["skipped"] for r in sorted(counted, key=lambda r: r["votes"])] == [False, False, False, True]
    assert refusals == [("PT409", "this song is no longer playing")] * 2  # they waited, and the song had gone
    assert status_of(db, playing["id"]) == "skipped"
    assert db.admin.execute("select count(*) from public.queue_items where status = 'playing'").fetchone()[0] == 1
    assert sorted(e["votes"] for e in broadcasts(db, f"session:{room['session']}", "skip_votes")) == [1, 2, 3, 4]
