"""DJ battles (issue 15): challenge, accept / decline / cancel, time-boxed rounds
in the challenger's room, one vote per listener per round (exact under
concurrency, late arrivals included), results, events and notifications."""

import json
import threading

import pytest

from tests.pgrest import claims_for
from tests.room import broadcasts, go_live, join, make_dj, refused
from tests.test_holes import race
from tests.test_room_ticks import SEND, batches, due_again, threshold, tick
from tests.workerhelpers import outbox


@pytest.fixture
def arena(db):
    nova, kai = make_dj(db, "nova"), make_dj(db, "kai")
    session = go_live(db, nova, "Battle night")["id"]
    return {"nova": nova, "kai": kai, "session": session}


def start(db, arena, rounds=2, seconds=60):
    battle = db.as_user(arena["nova"]).rpc_rows("challenge_battle", p_opponent_id=arena["kai"], p_rounds=rounds,
                                                p_round_seconds=seconds)[0]
    return db.as_user(arena["kai"]).rpc_rows("respond_battle", p_battle_id=battle["id"], p_accept=True)[0]


def end_round(db, battle_id, round_no):
    """Time passes: the round is over (its window moved into the past, the next one opens now)."""
    db.admin.execute("update public.battle_rounds set starts_at = starts_at - (ends_at - now()) - interval '1 second', "
                     "ends_at = now() - interval '1 second' where battle_id = %s and round = %s", (battle_id, round_no))
    db.admin.execute("update public.battle_rounds set starts_at = now() - interval '1 second' "
                     "where battle_id = %s and round = %s", (battle_id, round_no + 1))
    return db.admin.execute("select private.close_battle_rounds(100)").fetchone()[0]


def test_a_battle_from_challenge_to_winner(db, arena):
    fan_nova, fan_kai, fan_both = (db.create_user(n) for n in ("fan_nova", "fan_kai", "fan_both"))
    for fan, djs in ((fan_nova, ["nova"]), (fan_kai, ["kai"]), (fan_both, ["nova", "kai"])):
        for dj in djs:
            db.as_user(fan).rpc("follow", p_user_id=arena[dj])
    battle = db.as_user(arena["nova"]).rpc_rows("challenge_battle", p_opponent_id=arena["kai"], p_rounds=2)[0]
    assert battle["status"] == "pending"
    assert broadcasts(db, f"user:{arena['kai']}", "battle_challenge")[0]["battle_id"] == str(battle["id"])
    assert db.anon().sql("select * from public.battles") == []  # a challenge is between the two DJs
    battle = db.as_user(arena["kai"]).rpc_rows("respond_battle", p_battle_id=battle["id"], p_accept=True)[0]
    assert battle["status"] == "live"
    assert broadcasts(db, f"session:{arena['session']}", "battle_started")
    # Both DJs' followers hear it once each.
    notified = sorted(r["user_id"] for r in outbox(db, kind="battle_live"))
    assert notified == sorted([fan_nova, fan_kai, fan_both])

    voters = [join(db, arena["session"], f"l{n}") for n in range(3)]
    for voter in voters:
        assert db.as_user(voter).rpc("vote_battle", p_battle_id=battle["id"], p_dj_id=arena["nova"]) is True
    assert db.as_user(voters[0]).rpc("vote_battle", p_battle_id=battle["id"], p_dj_id=arena["kai"]) is False
    state = db.anon().rpc("battle_state", p_battle_id=battle["id"])
    assert (state["rounds_detail"][0]["challenger_votes"], state["rounds_detail"][0]["opponent_votes"]) == (3, 0)
    assert broadcasts(db, f"session:{arena['session']}", "battle_tally")[0]["challenger_votes"] == 1

    assert end_round(db, battle["id"], 1) == 1
    ended = broadcasts(db, f"session:{arena['session']}", "battle_round_ended")
    assert [(e["round"], e["winner_id"]) for e in ended] == [(1, str(arena["nova"]))]
    late = join(db, arena["session"], "late")  # arrives in round 2 and votes in it
    for voter in [*voters[:2], late]:
        db.as_user(voter).rpc("vote_battle", p_battle_id=battle["id"], p_dj_id=arena["kai"])
    end_round(db, battle["id"], 2)

    result = db.anon().one("select * from public.battles where id = %s", (battle["id"],))
    assert (result["status"], result["challenger_rounds"], result["opponent_rounds"]) == ("finished", 1, 1)
    assert (result["challenger_votes"], result["opponent_votes"]) == (3, 3)
    assert result["winner_id"] is None  # a draw: same rounds, same votes
    assert broadcasts(db, f"session:{arena['session']}", "battle_ended")[0]["status"] == "finished"
    with refused("PT409"):
        db.as_user(voters[2]).rpc("vote_battle", p_battle_id=battle["id"], p_dj_id=arena["kai"])
    rounds = db.anon().sql("select round, challenger_votes, opponent_votes from public.battle_rounds order by round")
    assert [(r["challenger_votes"], r["opponent_votes"]) for r in rounds] == [(3, 0), (0, 3)]


def test_the_winner_is_who_wins_more_rounds_and_earns_a_badge(db, arena):
    battle = start(db, arena, rounds=1)
    listener = join(db, arena["session"], "listener")
    db.as_user(listener).rpc("vote_battle", p_battle_id=battle["id"], p_dj_id=arena["kai"])
    end_round(db, battle["id"], 1)
    assert db.anon().value("select winner_id from public.battles") == arena["kai"]
    assert db.anon().value("select badge_id from public.user_badges where user_id = %s and badge_id like '%%battle%%'",
                           (arena["kai"],)) == "first_battle_won"


def test_who_may_vote(db, arena):
    battle = start(db, arena)
    listener = join(db, arena["session"], "listener")
    with refused("PT403"):
        db.as_user(arena["nova"]).rpc("vote_battle", p_battle_id=battle["id"], p_dj_id=arena["nova"])
    with refused("PT403"):
        db.as_user(db.create_user("outsider")).rpc("vote_battle", p_battle_id=battle["id"], p_dj_id=arena["nova"])
    with refused("PT422"):
        db.as_user(listener).rpc("vote_battle", p_battle_id=battle["id"], p_dj_id=listener)
    db.as_user(listener).rpc("leave_session", p_session_id=arena["session"])
    with refused("PT403"):
        db.as_user(listener).rpc("vote_battle", p_battle_id=battle["id"], p_dj_id=arena["nova"])
    assert db.as_user(listener).sql("select * from public.battle_votes") == []


def test_challenges_decline_cancel_and_rules(db, arena):
    nova, kai = db.as_user(arena["nova"]), db.as_user(arena["kai"])
    with refused("PT409", "go live"):
        kai.rpc_rows("challenge_battle", p_opponent_id=arena["nova"])
    with refused("PT404"):
        nova.rpc_rows("challenge_battle", p_opponent_id=db.create_user("not_a_dj"))
    battle = nova.rpc_rows("challenge_battle", p_opponent_id=arena["kai"])[0]
    with refused("PT409", "already pending"):
        nova.rpc_rows("challenge_battle", p_opponent_id=arena["kai"])
    with refused("PT404"):
        nova.rpc_rows("respond_battle", p_battle_id=battle["id"], p_accept=True)  # only the opponent answers
    assert kai.rpc_rows("respond_battle", p_battle_id=battle["id"], p_accept=False)[0]["status"] == "declined"
    assert broadcasts(db, f"user:{arena['nova']}", "battle_declined")
    again = nova.rpc_rows("challenge_battle", p_opponent_id=arena["kai"])[0]
    assert nova.rpc_rows("cancel_battle", p_battle_id=again["id"])[0]["status"] == "canceled"
    with refused("PT409"):
        kai.rpc_rows("respond_battle", p_battle_id=again["id"], p_accept=True)
    # An unanswered challenge expires after 10 minutes.
    late = nova.rpc_rows("challenge_battle", p_opponent_id=arena["kai"])[0]
    db.admin.execute("update public.battles set created_at = now() - interval '11 minutes' where id = %s", (late["id"],))
    db.admin.execute("select private.close_battle_rounds(10)")
    assert db.admin.execute("select status from public.battles where id = %s", (late["id"],)).fetchone()[0] == "canceled"


def test_one_vote_per_listener_per_round_under_concurrency(db, arena):
    battle = start(db, arena)
    listeners = [join(db, arena["session"], f"l{n}") for n in range(12)]

    def vote_twice(client, n):
        for dj in ("nova", "kai"):
            client.rpc("vote_battle", p_battle_id=battle["id"], p_dj_id=arena[dj if n % 2 else "nova"])

    assert race(db, listeners, vote_twice) == ["ok"] * 12
    assert db.admin.execute("select count(*), count(distinct user_id) from public.battle_votes").fetchone() == (12, 12)
    state = db.anon().rpc("battle_state", p_battle_id=battle["id"])
    assert state["rounds_detail"][0]["challenger_votes"] + state["rounds_detail"][0]["opponent_votes"] == 12


def test_a_vote_in_flight_when_the_round_closes_is_in_the_result(db, arena):
    battle = start(db, arena, rounds=1)
    voter = join(db, arena["session"], "voter")
    closed = []
    with db.connect("authenticator") as conn:
        with conn.transaction():
            conn.execute("set local role authenticated")
            conn.execute("select set_config('request.jwt.claims', %s, true)",
                         (json.dumps(claims_for(voter, "authenticated")),))
            assert conn.execute("select public.vote_battle(%s, %s)", (battle["id"], arena["kai"])).fetchone()[0]
            closer = threading.Thread(target=lambda: closed.append(db.connect().execute(
                "select private.close_battle_rounds(10, now() + interval '2 hours')").fetchone()[0]))
            closer.start()
            # The closing waits for the vote in flight (it holds a share lock on the round).
            while not db.admin.execute("select exists (select 1 from pg_stat_activity where wait_event_type = 'Lock' "
                                       "and query like '%%close_battle_rounds%%')").fetchone()[0]:
                assert closer.is_alive()
        closer.join()
    assert closed == [1]
    assert db.anon().one("select opponent_votes, winner_id from public.battles") == \
        {"opponent_votes": 1, "winner_id": arena["kai"]}


def test_a_large_room_gets_battle_events_in_the_tick_batch_with_tallies_coalesced(db, arena):
    """Above the listener threshold, a battle's room events ride the room's
    `room_batch` in order with chat; its tallies coalesce to the latest
    (key 'battle:<id>'); the two DJs' own events stay immediate."""
    voters = [join(db, arena["session"], f"l{n}") for n in range(3)]
    threshold(db, 3)
    topic = f"session:{arena['session']}"
    before = len(broadcasts(db, topic))
    battle = start(db, arena, rounds=1)
    assert broadcasts(db, f"user:{arena['nova']}", "battle_started")  # personal: at once
    nova = db.as_user(arena["nova"])
    for n, voter in enumerate(voters):
        if n:
            a_second_passes(db, arena)  # the tally throttle: each vote publishes one
        db.as_user(voter).rpc("vote_battle", p_battle_id=battle["id"], p_dj_id=arena["nova" if n < 2 else "kai"])
        if n == 0:
            nova.one(SEND, (arena["session"], "vote now"))
    assert len(broadcasts(db, topic)) == before  # nothing at once
    tick(db)
    (batch,) = batches(db, arena["session"])
    assert [c["event"] for c in batch] == ["battle_started", "message_created", "battle_tally"]
    assert batch[0]["payload"]["battle_id"] == str(battle["id"])
    assert {k: batch[2]["payload"][k] for k in ("round", "challenger_votes", "opponent_votes")} == \
        {"round": 1, "challenger_votes": 2, "opponent_votes": 1}
    # The round closes: its result and the battle's end come with the next tick, after the last tally.
    end_round(db, battle["id"], 1)
    assert broadcasts(db, topic, "battle_round_ended") == [] and broadcasts(db, topic, "battle_ended") == []
    assert broadcasts(db, f"user:{arena['kai']}", "battle_ended")
    due_again(db)
    tick(db)
    assert [c["event"] for c in batches(db, arena["session"])[-1]] == ["battle_round_ended", "battle_ended"]
    assert batches(db, arena["session"])[-1][1]["payload"]["winner_id"] == str(arena["nova"])


def a_second_passes(db, arena):
    db.admin.execute("update private.room_event_gates set last_sent_at = last_sent_at - interval '1 second' "
                     "where topic = %s", (f"session:{arena['session']}",))


def test_battle_moves_are_direct_writes_that_hold_every_rule(db, arena):
    """challenge, respond, cancel and vote run as the caller: a direct insert or
    update is what they do, so it meets the same rules and sets nothing else."""
    nova, kai = db.as_user(arena["nova"]), db.as_user(arena["kai"])
    challenge = "insert into public.battles (opponent_id) values (%s) returning challenger_id, session_id, status"
    with refused("PT409", "go live first"):
        kai.sql(challenge, (arena["nova"],))
    for forged, params in (("insert into public.battles (opponent_id, status) values (%s, 'live')", (arena["kai"],)),
                           ("insert into public.battles (opponent_id, session_id) values (%s, %s)",
                            (arena["kai"], arena["session"]))):
        with refused("42501"):
            nova.sql(forged, params)
    assert nova.sql(challenge, (arena["kai"],)) == [
        {"challenger_id": arena["nova"], "session_id": arena["session"], "status": "pending"}]
    battle = nova.value("select id from public.battles")
    move = "update public.battles set status = %s where id = %s returning status"
    with refused("PT403", "challenged DJ accepts"):
        nova.sql(move, ("live", battle))  # the challenger cannot accept their own challenge
    with refused("PT403"):
        kai.sql(move, ("canceled", battle))  # nor the challenged DJ withdraw it
    with refused("PT403"):
        kai.sql(move, ("finished", battle))
    assert db.as_user(db.create_user("stranger")).sql(move, ("canceled", battle)) == []
    with refused("42501"):
        kai.sql("update public.battles set winner_id = %s where id = %s", (arena["kai"], battle))
    assert kai.sql(move, ("live", battle)) == [{"status": "live"}]
    assert broadcasts(db, f"session:{arena['session']}", "battle_started")
    with refused("PT409", "this battle is live"):
        nova.sql(move, ("canceled", battle))

    fan = db.as_user(join(db, arena["session"], "fan"))
    vote = "insert into public.battle_votes (battle_id, dj_id) values (%s, %s) returning user_id, round"
    for forged, params in (("insert into public.battle_votes (battle_id, dj_id, user_id) values (%s, %s, %s)",
                            (battle, arena["nova"], arena["kai"])),
                           ("insert into public.battle_votes (battle_id, dj_id, round) values (%s, %s, 2)",
                            (battle, arena["nova"]))):
        with refused("42501"):
            fan.sql(forged, params)
    with refused("PT403", "battling DJs"):
        kai.sql(vote, (battle, arena["kai"]))
    with refused("PT403", "join"):
        db.as_user(db.create_user("outsider")).sql(vote, (battle, arena["nova"]))
    with refused("PT422"):
        fan.sql(vote, (battle, fan.user_id))
    assert fan.sql(vote, (battle, arena["nova"])) == [{"user_id": fan.user_id, "round": 1}]
    with refused("23505"):  # one vote per round (the RPC answers false)
        fan.sql(vote, (battle, arena["kai"]))
