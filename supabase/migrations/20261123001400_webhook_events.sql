-- Webhook events: every verified Stripe and authorized RevenueCat event is kept
-- once, then applied by one function per provider that routes it to the area
-- that owns the change (tips_payouts.sql, subscriptions.sql).

-- Webhook event logs: every verified event kept once, with its outcome
create table private.webhook_events (
  provider text not null check (provider in ('stripe', 'revenuecat')),
  id text not null,
  type text not null,
  event_at timestamptz not null,
  payload jsonb not null,
  raw_body text,
  received_at timestamptz not null default now(),
  processed_at timestamptz,
  outcome text,
  attempts int not null default 0,
  last_error text,
  primary key (provider, id)
);
comment on table private.webhook_events is 'Every verified Stripe and authorized RevenueCat event, once (deduplicated on the provider''s event id). processed_at null: not applied yet (a failure or a crash), applied when the provider redelivers it.';
comment on column private.webhook_events.raw_body is 'the body exactly as received, kept when payload had to be cleaned to be stored (jsonb and text cannot hold NUL (\u0000) nor a lone surrogate: payload has NUL removed and lone surrogates replaced by U+FFFD); null when payload is the body';
comment on column private.webhook_events.event_at is 'when the provider says the event happened (Stripe created, RevenueCat event_timestamp_ms)';
create index webhook_events_unprocessed on private.webhook_events (received_at) where processed_at is null;
alter table private.webhook_events enable row level security;

-- Record an event once; true while it is not applied yet. Asynchronous commit
-- is safe here: nothing is acknowledged on the strength of this record alone
-- (the apply commits durably before the 200; a lost record was never answered
-- 200, so the provider sends it again).
create function private.record_webhook_event(p_provider text, p_event jsonb, p_raw_body text default null)
returns boolean
language plpgsql security definer
set search_path = ''
as $$
declare
  v_processed timestamptz;
begin
  perform set_config('synchronous_commit', 'off', true);
  insert into private.webhook_events (provider, id, type, event_at, payload, raw_body)
  values (p_provider, p_event ->> 'id', p_event ->> 'type',
          case p_provider when 'stripe' then to_timestamp((p_event ->> 'created')::bigint)
                          else to_timestamp((p_event ->> 'event_timestamp_ms')::bigint / 1000.0) end,
          p_event, p_raw_body)
  on conflict (provider, id) do nothing;
  select e.processed_at into v_processed from private.webhook_events e
  where e.provider = p_provider and e.id = p_event ->> 'id';
  return v_processed is null;
end;
$$;
revoke all on function private.record_webhook_event(text, jsonb, text) from public, anon, authenticated, service_role;
grant execute on function private.record_webhook_event(text, jsonb, text) to openparty_edge, service_role;

-- Lock an event for applying; null when it was applied already (a duplicate).
create function private.claim_webhook_event(p_provider text, p_event_id text) returns private.webhook_events
language plpgsql
set search_path = ''
as $$
declare
  v_event private.webhook_events;
begin
  select * into v_event from private.webhook_events e where e.provider = p_provider and e.id = p_event_id for update;
  if not found then
    raise exception '% event % was not recorded', p_provider, p_event_id;
  end if;
  if v_event.processed_at is not null then
    return null;
  end if;
  return v_event;
end;
$$;
revoke all on function private.claim_webhook_event(text, text) from public, anon, authenticated, service_role;

create function private.finish_webhook_event(p_provider text, p_event_id text, p_outcome text) returns text
language sql
set search_path = ''
as $$
  update private.webhook_events e
  set processed_at = now(), outcome = p_outcome, attempts = e.attempts + 1, last_error = null
  where e.provider = p_provider and e.id = p_event_id
  returning e.outcome
$$;
revoke all on function private.finish_webhook_event(text, text, text) from public, anon, authenticated, service_role;

-- Kept with the event when applying failed, for the retry and for people.
create function private.note_webhook_event_failure(p_provider text, p_event_id text, p_error text) returns void
language sql security definer
set search_path = ''
as $$
  update private.webhook_events e set attempts = e.attempts + 1, last_error = left(p_error, 2000)
  where e.provider = p_provider and e.id = p_event_id
$$;
revoke all on function private.note_webhook_event_failure(text, text, text) from public, anon, authenticated, service_role;
grant execute on function private.note_webhook_event_failure(text, text, text) to openparty_edge, service_role;

-- Stripe events: each handled type moves one state forward. p_prices maps
-- the Stripe price ids we sell to plan ids ({"price_...": "premium"}, from the
-- settings). Both API-version shapes (before and after 2025-03-31 basil) are
-- read by the functions they are routed to.
create function private.apply_stripe_event(p_event_id text, p_prices jsonb default '{}') returns text
language plpgsql security definer
set search_path = ''
as $$
declare
  v_event private.webhook_events := private.claim_webhook_event('stripe', p_event_id);
  v_object jsonb := v_event.payload -> 'data' -> 'object';
begin
  if v_event is null then
    return 'duplicate';
  end if;
  return private.finish_webhook_event('stripe', p_event_id, case v_event.type
    when 'payment_intent.succeeded' then private.apply_payment_intent(v_object)
    when 'payment_intent.payment_failed' then private.apply_payment_intent(v_object)
    when 'payment_intent.canceled' then private.apply_payment_intent(v_object)
    when 'charge.refunded' then private.apply_charge_refund(v_object)
    when 'charge.dispute.created' then private.apply_dispute(v_object)
    when 'charge.dispute.updated' then private.apply_dispute(v_object)
    when 'charge.dispute.closed' then private.apply_dispute(v_object)
    when 'charge.dispute.funds_withdrawn' then private.apply_dispute(v_object, 'withdrawn')
    when 'charge.dispute.funds_reinstated' then private.apply_dispute(v_object, 'reinstated')
    when 'account.updated' then private.apply_account(v_object, v_event.event_at)
    when 'payout.created' then private.apply_payout(v_object, v_event.payload ->> 'account', v_event.event_at)
    when 'payout.updated' then private.apply_payout(v_object, v_event.payload ->> 'account', v_event.event_at)
    when 'payout.paid' then private.apply_payout(v_object, v_event.payload ->> 'account', v_event.event_at)
    when 'payout.failed' then private.apply_payout(v_object, v_event.payload ->> 'account', v_event.event_at)
    when 'payout.canceled' then private.apply_payout(v_object, v_event.payload ->> 'account', v_event.event_at)
    when 'checkout.session.completed' then private.apply_checkout_session(v_object)
    when 'customer.subscription.created' then private.apply_subscription(v_object, v_event.event_at, p_prices)
    when 'customer.subscription.updated' then private.apply_subscription(v_object, v_event.event_at, p_prices)
    when 'customer.subscription.deleted' then private.apply_subscription(v_object, v_event.event_at, p_prices)
    when 'invoice.created' then private.apply_invoice(v_object, v_event.type, v_event.event_at)
    when 'invoice.finalized' then private.apply_invoice(v_object, v_event.type, v_event.event_at)
    when 'invoice.updated' then private.apply_invoice(v_object, v_event.type, v_event.event_at)
    when 'invoice.paid' then private.apply_invoice(v_object, v_event.type, v_event.event_at)
    when 'invoice.payment_succeeded' then private.apply_invoice(v_object, v_event.type, v_event.event_at)
    when 'invoice.payment_failed' then private.apply_invoice(v_object, v_event.type, v_event.event_at)
    when 'invoice.voided' then private.apply_invoice(v_object, v_event.type, v_event.event_at)
    when 'invoice.marked_uncollectible' then private.apply_invoice(v_object, v_event.type, v_event.event_at)
    else 'ignored: unhandled type'
  end);
end;
$$;
revoke all on function private.apply_stripe_event(text, jsonb) from public, anon, authenticated, service_role;
grant execute on function private.apply_stripe_event(text, jsonb) to openparty_edge, service_role;

create function private.apply_revenuecat_event(p_event_id text, p_environment text) returns text
language plpgsql security definer
set search_path = ''
as $$
declare
  v_event private.webhook_events := private.claim_webhook_event('revenuecat', p_event_id);
begin
  if v_event is null then
    return 'duplicate';
  end if;
  return private.finish_webhook_event('revenuecat', p_event_id,
    private.apply_revenuecat(v_event.payload, v_event.event_at, p_environment));
end;
$$;
revoke all on function private.apply_revenuecat_event(text, text) from public, anon, authenticated, service_role;
grant execute on function private.apply_revenuecat_event(text, text) to openparty_edge, service_role;
