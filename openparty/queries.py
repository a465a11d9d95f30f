"""Every SQL statement the Python layer runs, by name, with named parameters.

Each calls one function of the private schema, where the rules live.
"""

# Webhooks: record the verified event (committed on its own, so a failed
# apply keeps it), then apply it; note a failure for the retry.
RECORD_WEBHOOK_EVENT = ("select private.record_webhook_event(%(provider)s, %(event)s::jsonb, %(raw_body)s) "
                        "as unapplied")
NOTE_WEBHOOK_EVENT_FAILURE = "select private.note_webhook_event_failure(%(provider)s, %(event_id)s, %(error)s)"
APPLY_STRIPE_EVENT = "select private.apply_stripe_event(%(event_id)s, %(prices)s::jsonb) as outcome"
APPLY_REVENUECAT_EVENT = "select private.apply_revenuecat_event(%(event_id)s, %(environment)s) as outcome"

# create-tip
CREATE_TIP = """
    select * from private.create_tip(%(tipper_id)s, %(session_id)s, %(amount)s, %(currency)s,
                                     %(message)s, %(client_key)s, %(fee_bps)s)
"""
ATTACH_PAYMENT_INTENT = "select * from private.attach_payment_intent(%(tip_id)s, %(payment_intent_id)s)"

# dj-connect
PAYOUT_ACCOUNT_OF = "select * from private.payout_account_of(%(dj_id)s)"
ATTACH_PAYOUT_ACCOUNT = "select * from private.attach_payout_account(%(dj_id)s, %(stripe_account_id)s)"

# checkout
STRIPE_CUSTOMER_OF = "select private.stripe_customer_of(%(user_id)s) as customer_id"
ATTACH_STRIPE_CUSTOMER = "select private.attach_stripe_customer(%(user_id)s, %(customer_id)s) as customer_id"

# Push dispatch and receipts (workers)
PUSH_CLAIM = "select * from private.push_claim(%(worker)s, %(limit)s, make_interval(secs => %(lease_seconds)s))"
PUSH_MARK_SENDING = "select private.push_mark_sending(%(delivery_ids)s)"
PUSH_RECORD = "select private.push_record(%(results)s::jsonb)"
PUSH_SETTLE = ("select private.push_settle(%(outbox_ids)s, %(max_attempts)s, "
               "make_interval(secs => %(backoff_seconds)s))")
PUSH_RELEASE = "select private.push_release(%(worker)s) as released"
PUSH_RECEIPTS_DUE = "select * from private.push_receipts_due(make_interval(mins => %(min_age_minutes)s), %(limit)s)"
PUSH_RECORD_RECEIPTS = ("select private.push_record_receipts(%(receipts)s::jsonb, %(max_attempts)s, "
                        "make_interval(secs => %(backoff_seconds)s)) as recorded")

# Cleanup (workers); each returns how many rows it handled
END_SILENT_SESSIONS = "select private.end_silent_sessions(make_interval(secs => %(seconds)s), %(limit)s) as handled"
END_ABANDONED_SESSIONS = "select private.end_abandoned_sessions(make_interval(mins => %(minutes)s), %(limit)s) as handled"
END_STALE_SCHEDULED = "select private.end_stale_scheduled_sessions(make_interval(hours => %(hours)s), %(limit)s) as handled"
CLOSE_IDLE_PARTICIPATIONS = ("select private.close_idle_participations(make_interval(mins => %(minutes)s), %(limit)s) "
                             "as handled")
ENQUEUE_SESSION_REMINDERS = ("select private.enqueue_session_reminders(make_interval(mins => %(minutes)s), %(limit)s) "
                             "as handled")
PURGE_NOTIFICATIONS = "select private.purge_notifications(make_interval(days => %(days)s), %(limit)s) as handled"

# Reconciliation (workers)
STALE_PENDING_TIPS = "select * from private.stale_pending_tips(make_interval(mins => %(minutes)s), %(limit)s)"
RECONCILE_PAYMENT_INTENT = ("select private.reconcile_payment_intent(%(payment_intent)s::jsonb, "
                            "make_interval(mins => %(abandon_minutes)s)) as outcome")
UNATTACHED_PENDING_TIPS = "select * from private.unattached_pending_tips(make_interval(mins => %(minutes)s), %(limit)s)"
RECONCILE_UNATTACHED_TIP = ("select private.reconcile_unattached_tip(%(tip_id)s, %(payment_intent)s::jsonb, "
                            "make_interval(mins => %(abandon_minutes)s)) as outcome")
CANCEL_UNSUBMITTED_TIPS = ("select private.cancel_unsubmitted_tips(make_interval(mins => %(minutes)s), %(limit)s) "
                           "as handled")
EXPIRE_ENTITLEMENTS = "select private.expire_entitlements(%(limit)s) as handled"

# Room ticks (workers): send each due room's pending changes as one batch
ROOM_TICK = ("select private.room_tick(make_interval(secs => %(min_interval_seconds)s), %(max_rooms)s, "
             "%(max_changes)s) as handled")

# Accounts: deletion (edge: the database step; worker: storage and auth) and export
REQUEST_ACCOUNT_DELETION = "select * from private.request_account_deletion(%(user_id)s)"
EXPORT_ACCOUNT = "select private.export_account(%(user_id)s) as export"
ACCOUNT_DELETIONS_DUE = "select * from private.account_deletions_due(%(limit)s)"
ACCOUNT_STORAGE_OBJECTS = "select * from private.account_storage_objects(%(user_id)s, %(limit)s)"
RECORD_ACCOUNT_DELETION_STEP = ("select * from private.record_account_deletion_step(%(user_id)s, %(step)s, %(error)s, "
                                "%(files)s)")

# Artist payouts (workers)
RUN_ARTIST_PAYOUTS = ("select * from private.run_artist_payouts(%(month)s, %(currency)s, %(share_bps)s, %(model)s, "
                      "%(min_payout)s)")
CLAIM_ARTIST_TRANSFERS = "select * from private.claim_artist_transfers(%(limit)s, make_interval(secs => %(lease_seconds)s))"
RECORD_ARTIST_TRANSFER = ("select private.record_artist_transfer(%(statement_id)s, %(transfer_id)s, %(error)s, "
                          "%(permanent)s) as status")

# Music: auto-advance (workers)
AUTO_ADVANCE = "select private.auto_advance(make_interval(secs => %(grace_seconds)s), %(limit)s) as handled"

# Spotify: linking and import (functions)
SPOTIFY_LINK = ("select * from private.spotify_link(%(user_id)s, %(spotify_user_id)s, %(display_name)s, %(scopes)s, "
                "%(access_token)s, %(refresh_token)s, %(expires_in)s)")
SPOTIFY_UNLINK = "select private.spotify_unlink(%(user_id)s) as unlinked"
SPOTIFY_TOKENS_OF = "select * from private.spotify_tokens_of(%(user_id)s)"
SPOTIFY_IMPORT_TRACKS = ("select private.spotify_import_tracks(%(user_id)s, %(target)s, %(session_id)s, "
                         "%(tracks)s::jsonb) as imported")

# Spotify: tokens (functions and workers)
SPOTIFY_STORE_TOKENS = ("select private.spotify_store_tokens(%(user_id)s, %(access_token)s, %(refresh_token)s, "
                        "%(expires_in)s, %(scopes)s) as stored")
SPOTIFY_MARK_BROKEN = "select private.spotify_mark_broken(%(user_id)s, %(reason)s) as broken"
SPOTIFY_TOKEN_REJECTED = "select private.spotify_token_rejected(%(user_id)s)"

# Spotify: refresh and currently-playing poller (workers)
SPOTIFY_REFRESH_CLAIM = ("select * from private.spotify_refresh_claim(make_interval(secs => %(ahead_seconds)s), "
                         "%(limit)s, make_interval(secs => %(lease_seconds)s))")
SPOTIFY_POLL_CLAIM = ("select * from private.spotify_poll_claim(make_interval(secs => %(interval_seconds)s), %(limit)s, "
                      "%(budget)s, make_interval(secs => %(window_seconds)s))")
SPOTIFY_RATE_LIMITED = "select private.spotify_rate_limited(%(retry_after)s) as blocked_until"
SPOTIFY_APPLY_PLAYBACK = "select private.spotify_apply_playback(%(user_id)s, %(playback)s::jsonb) as outcome"
# Social (workers): the per-second room sweep, and the creator analytics rollup
ROOM_EVENTS_TICK = "select private.room_events_tick(%(limit)s) as handled"
ROLLUP_CREATOR_ANALYTICS = "select private.rollup_creator_analytics(%(max_days)s) as handled"
ROLLUP_DJ_DAYS = "select private.rollup_dj_days(%(from_day)s, %(to_day)s) as handled"
