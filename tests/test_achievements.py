"""Streaks, badges, leaderboards and invites (issue 15): derived by the system
from durable facts, never written by the app; a push when earned, respecting
preferences."""

from tests.room import broadcasts, go_live, join, make_dj, refused
from tests.workerhelpers import outbox


def badges(db, user_id):
    return [b["badge_id"] for b in db.anon().rpc("user_achievements", p_user_id=user_id)["badges"]]


STREAKS = [  # (days listened, today) -> (current, longest)
    ([], "2026-11-23", (0, 0)),
    (["2026-11-23"], "2026-11-23", (1, 1)),
    (["2026-11-20", "2026-11-21", "2026-11-22"], "2026-11-23", (3, 3)),  # yesterday still counts
    (["2026-11-20", "2026-11-21"], "2026-11-23", (0, 2)),  # a missed day breaks it
    (["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-22", "2026-11-23", "2026-11-23"], "2026-11-23", (2, 3)),
]


def test_streak_derivation(db):
    for days, today, expected in STREAKS:
        row = db.admin.execute("select * from private.streak(%s::date[], %s::date)", (days, today)).fetchone()
        assert row == expected, (days, today)


def test_seven_listening_days_in_a_row_earn_a_badge_and_a_push(db):
    me = db.create_user("me")
    db.admin.execute("insert into private.listening_days (user_id, day) "
                     "select %s, (now() at time zone 'UTC')::date - g from generate_series(1, 6) g", (me,))
    assert "listening_streak_7" not in badges(db, me)
    session = go_live(db, make_dj(db))["id"]
    db.as_user(me).rpc_rows("join_session", p_session_id=session)  # today: the seventh day
    assert "listening_streak_7" in badges(db, me)
    assert db.anon().rpc("user_achievements", p_user_id=me)["listening_streak"] == {"current_days": 7,
                                                                                   "longest_days": 7}
    assert broadcasts(db, f"user:{me}", "badge_earned")[0]["badge_id"] == "listening_streak_7"
    assert [(n["kind"], n["body"]) for n in outbox(db, user_id=me)] == [("achievement_earned", "Week of music")]


def test_badges_respect_push_preferences_and_are_never_app_written(db):
    dj = make_dj(db)
    db.as_user(dj).sql("insert into public.notification_preferences (achievements) values (false)")
    session = go_live(db, dj)["id"]
    assert badges(db, dj) == ["first_session_hosted"]
    assert outbox(db, user_id=dj) == []  # earned, not pushed
    db.admin.execute("update public.sessions set peak_listener_count = 100 where id = %s", (session,))
    assert badges(db, dj) == ["first_session_hosted", "first_100_listeners"]
    with refused("42501"):
        db.as_user(dj).sql("insert into public.user_badges (user_id, badge_id) values (%s, 'battles_won_10')", (dj,))
    with refused("42501"):
        db.as_user(dj).sql("delete from public.user_badges")


def test_hosting_streak_counts_days_on_air(db):
    dj = make_dj(db)
    db.admin.execute("insert into private.hosting_days (user_id, day) "
                     "select %s, (now() at time zone 'UTC')::date - g from generate_series(1, 6) g", (dj,))
    go_live(db, dj)
    assert db.anon().rpc("user_achievements", p_user_id=dj)["hosting_streak"]["current_days"] == 7
    assert "hosting_streak_7" in badges(db, dj)


def test_an_invite_credits_both_when_the_friend_first_joins(db):
    me, friend = db.create_user("me"), db.create_user("friend")
    code = db.as_user(me).rpc("my_invite_code")
    assert db.as_user(me).rpc("my_invite_code") == code
    with refused("PT409", "your own"):
        db.as_user(me).rpc_rows("redeem_invite", p_code=code)
    with refused("PT404"):
        db.as_user(friend).rpc_rows("redeem_invite", p_code="nope")
    referral = db.as_user(friend).rpc_rows("redeem_invite", p_code=code)[0]
    assert referral["credited_at"] is None
    with refused("PT409", "already"):
        db.as_user(friend).rpc_rows("redeem_invite", p_code=code)
    session = go_live(db, make_dj(db))["id"]
    db.as_user(friend).rpc_rows("join_session", p_session_id=session)
    assert db.as_user(me).value("select credited_at from public.referrals") is not None
    assert "invited_friend" in badges(db, me) and "joined_by_invite" in badges(db, friend)
    assert db.anon().rpc("user_achievements", p_user_id=me)["friends_invited"] == 1
    # Someone who already listened is not new.
    regular = join(db, session, "regular")
    with refused("PT409", "new listeners"):
        db.as_user(regular).rpc_rows("redeem_invite", p_code=code)



def test_redeeming_is_inserting_a_code_and_its_rules_hold_on_a_direct_write(db):
    """redeem_invite and my_invite_code run as the caller: a direct insert is
    what they do, so it meets the same rules, and can set nothing else."""
    me, friend, other = db.create_user("me"), db.create_user("friend"), db.create_user("other")
    code = db.as_user(me).rpc("my_invite_code")
    direct = "insert into public.referrals (invite_code) values (%s) returning referrer_id, referred_id, credited_at"
    with refused("PT409", "your own"):
        db.as_user(me).sql(direct, (code,))
    with refused("PT404", "unknown"):
        db.as_user(friend).sql(direct, ("nope",))
    for forged, params in (("insert into public.referrals (referred_id, referrer_id) values (%s, %s)", (other, me)),
                           ("insert into public.referrals (invite_code, credited_at) values (%s, now())", (code,)),
                           ("insert into public.invite_codes (user_id, code) values (%s, 'mine')", (friend,))):
        with refused("42501"):
            db.as_user(friend).sql(forged, params)
    with refused("42501"):  # someone else's code row
        db.as_user(friend).sql("insert into public.invite_codes (user_id) values (%s)", (other,))
    assert db.as_user(friend).sql(direct, ("  " + code + " ",)) == [
        {"referrer_id": me, "referred_id": friend, "credited_at": None}]
    with refused("23505"):  # one redemption per user (the RPC answers PT409)
        db.as_user(friend).sql(direct, (code,))

def test_weekly_leaderboard_per_genre(db):
    nova, kai = make_dj(db, "nova"), make_dj(db, "kai")
    house = go_live(db, nova, genres=["house"])["id"]
    jazz = go_live(db, kai, genres=["jazz"])["id"]
    for n in range(3):
        join(db, house, f"h{n}")
    join(db, jazz, "j0")
    board = db.anon().rpc_rows("weekly_leaderboard", p_metric="listeners")
    assert [(r["rank"], r["username"], r["value"]) for r in board] == [(1, "nova", 3), (2, "kai", 1)]
    assert [r["username"] for r in db.anon().rpc_rows("weekly_leaderboard", p_metric="listeners", p_genre="Jazz")] == \
        ["kai"]
    assert db.anon().rpc_rows("weekly_leaderboard", p_metric="listeners", p_week="2020-01-01") == []
    with refused("PT422"):
        db.anon().rpc_rows("weekly_leaderboard", p_metric="likes")


def test_tips_received_count_only_tips_that_stand_succeeded(db):
    """The tips board reads public counts (private.tips_received_daily) kept by a
    trigger on tips: a refund takes a tip back out; no one writes the counts."""
    nova, kai = make_dj(db, "nova"), make_dj(db, "kai")
    house = go_live(db, nova, genres=["house"])["id"]
    jazz = go_live(db, kai, genres=["jazz"])["id"]
    for dj in (nova, kai):
        db.admin.execute("insert into public.payout_accounts (dj_id, stripe_account_id, charges_enabled, "
                         "payouts_enabled) values (%s, 'acct_' || md5(%s::text), true, true)", (dj, dj))
    fan = db.create_user("fan")
    tips = []
    for session, n in ((house, 3), (jazz, 1)):
        db.as_user(fan).rpc_rows("join_session", p_session_id=session)
        for i in range(n):
            tips.append(db.admin.execute(
                "select id from private.create_tip(%s, %s, 500, 'usd', 'hi', %s, 1000)",
                (fan, session, f"key-{session}-{i}")).fetchone()[0])
    db.admin.execute("update public.tips set status = 'succeeded', succeeded_at = now()")
    db.admin.execute("update public.tips set status = 'refunded' where id = %s", (tips[0],))
    board = db.anon().rpc_rows("weekly_leaderboard", p_metric="tips_received")
    assert [(r["username"], r["value"]) for r in board] == [("nova", 2), ("kai", 1)]
    assert [r["username"] for r in db.anon().rpc_rows("weekly_leaderboard", p_metric="tips_received",
                                                       p_genre="jazz")] == ["kai"]
    with refused("42501"):
        db.as_user(kai).sql("insert into private.tips_received_daily (dj_id, session_id, day, tips) "
                            "values (%s, %s, current_date, 99)", (kai, jazz))
    with refused("42501"):
        db.as_user(kai).sql("update private.tips_received_daily set tips = 99")


def test_a_profiles_figures_are_public_counts_kept_by_triggers(db):
    """user_achievements runs as the caller and reads
    private.profile_achievement_stats: a run of days that ended before
    yesterday is no current streak, and nobody writes the figures but its triggers."""
    me = db.create_user("me")
    db.admin.execute("insert into private.listening_days (user_id, day) "
                     "select %s, (now() at time zone 'UTC')::date - g from generate_series(3, 7) g", (me,))
    db.admin.execute("insert into private.listening_days (user_id, day) "
                     "values (%s, (now() at time zone 'UTC')::date - 20)", (me,))
    assert db.anon().rpc("user_achievements", p_user_id=me)["listening_streak"] == {"current_days": 0,
                                                                                   "longest_days": 5}
    db.admin.execute("insert into private.listening_days (user_id, day) "
                     "select %s, (now() at time zone 'UTC')::date - g from generate_series(1, 2) g", (me,))
    assert db.anon().rpc("user_achievements", p_user_id=me)["listening_streak"] == {"current_days": 7,
                                                                                   "longest_days": 7}
    with refused("42501"):
        db.as_user(me).sql("update private.profile_achievement_stats set listening_longest = 100")
    with refused("42501"):
        db.as_user(me).sql("insert into private.profile_achievement_stats (user_id, friends_invited) values (%s, 9)",
                           (me,))
