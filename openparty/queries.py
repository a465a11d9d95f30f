"""Every SQL statement the Python layer runs, by name, with named parameters.

Each calls one function of the private schema, where the rules live.
"""

# Webhooks: record the verified event (committed on its own, so a failed
# apply keeps it), then apply it; note a failure for the retry.
RECORD_STRIPE_EVENT = "select private.record_stripe_event(%(event)s::jsonb) as is_new"
APPLY_STRIPE_EVENT = "select private.apply_stripe_event(%(event_id)s) as outcome"
NOTE_STRIPE_EVENT_FAILURE = "select private.note_stripe_event_failure(%(event_id)s, %(error)s)"

RECORD_REVENUECAT_EVENT = "select private.record_revenuecat_event(%(event)s::jsonb) as is_new"
APPLY_REVENUECAT_EVENT = "select private.apply_revenuecat_event(%(event_id)s, %(environment)s) as outcome"
NOTE_REVENUECAT_EVENT_FAILURE = "select private.note_revenuecat_event_failure(%(event_id)s, %(error)s)"

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
