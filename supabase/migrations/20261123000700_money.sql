-- Money: DJ payout accounts (Stripe Connect), tips and the earnings ledger,
-- entitlements from RevenueCat and Stripe Checkout, and the webhook event logs.
-- The edge (role openparty_edge) calls only the functions granted here; each
-- applies one change atomically and idempotently.

------------------------------------------------------------------------------
-- Payout accounts
------------------------------------------------------------------------------
create table public.payout_accounts (
  dj_id uuid primary key references public.profiles (id) on delete cascade,
  stripe_account_id text not null unique,
  charges_enabled boolean not null default false,
  payouts_enabled boolean not null default false,
  details_submitted boolean not null default false,
  requirements_due text[] not null default '{}',
  disabled_reason text,
  last_event_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.payout_accounts is 'A DJ''s Stripe connected account; readiness comes only from verified account.updated events. Readable by the DJ alone.';
comment on column public.payout_accounts.last_event_at is 'created time of the newest applied account.updated: older events are ignored';

revoke all on public.payout_accounts from anon, authenticated, service_role;
grant select on public.payout_accounts to authenticated;
grant select on public.payout_accounts to service_role;
alter table public.payout_accounts enable row level security;

create trigger payout_accounts_set_updated_at
before update on public.payout_accounts
for each row execute function private.set_updated_at();

------------------------------------------------------------------------------
-- Tips
------------------------------------------------------------------------------
create type public.tip_status as enum ('pending', 'succeeded', 'failed', 'canceled', 'refunded', 'disputed');
comment on type public.tip_status is 'pending: created, awaiting payment; succeeded: paid; failed: the last attempt failed (the app may retry); canceled: abandoned; refunded: some or all refunded (amount_refunded); disputed: the payer opened a dispute';

create table private.tip_currencies (
  currency text primary key check (currency ~ '^[a-z]{3}$'),
  min_amount int not null check (min_amount > 0),
  max_amount int not null check (max_amount >= min_amount)
);
comment on table private.tip_currencies is 'Currencies tips may use, with bounds in minor units (the minimum is at least Stripe''s minimum charge).';
alter table private.tip_currencies enable row level security;
insert into private.tip_currencies values ('usd', 100, 50000), ('eur', 100, 50000), ('gbp', 100, 40000);

create table public.tips (
  id uuid primary key default gen_random_uuid(),
  session_id uuid not null references public.sessions (id) on delete restrict,
  tipper_id uuid not null references public.profiles (id) on delete restrict,
  dj_id uuid not null references public.profiles (id) on delete restrict,
  amount int not null check (amount > 0),
  currency text not null references private.tip_currencies (currency),
  platform_fee int not null check (platform_fee >= 0),
  message text not null default '' constraint tips_message_length check (char_length(message) <= 140),
  status public.tip_status not null default 'pending',
  amount_refunded int not null default 0 check (amount_refunded >= 0),
  dispute_status text,
  failure_reason text,
  client_key text not null constraint tips_client_key_length check (char_length(client_key) between 8 and 100),
  stripe_payment_intent_id text unique,
  stripe_account_id text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  succeeded_at timestamptz,
  constraint tips_refund_within_amount check (amount_refunded <= amount),
  constraint tips_fee_within_amount check (platform_fee < amount),
  unique (tipper_id, client_key)
);
comment on table public.tips is 'A listener''s tip to a DJ: a state machine driven only by verified Stripe events. The tipper and the DJ read it.';
comment on column public.tips.client_key is 'the app''s idempotency key: the same key returns the same tip and PaymentIntent';
create index tips_session on public.tips (session_id);
create index tips_dj on public.tips (dj_id, created_at desc);
create index tips_pending on public.tips (created_at) where status = 'pending';
create index tips_currency on public.tips (currency);

revoke all on public.tips from anon, authenticated, service_role;
grant select on public.tips to authenticated;
grant select on public.tips to service_role;
alter table public.tips enable row level security;

create trigger tips_set_updated_at
before update on public.tips
for each row execute function private.set_updated_at();

create table private.earnings_entries (
  id bigint generated always as identity primary key,
  dj_id uuid not null references public.profiles (id) on delete cascade,
  tip_id uuid not null references public.tips (id) on delete cascade,
  kind text not null check (kind in ('tip', 'refund', 'dispute', 'dispute_won')),
  amount int not null,
  currency text not null,
  reference text not null,
  created_at timestamptz not null default now(),
  unique (tip_id, kind, reference)
);
comment on table private.earnings_entries is 'The DJs'' earnings ledger (net of the platform fee; negative for refunds and disputes). Internal: RLS on, no policies.';
comment on column private.earnings_entries.reference is 'what caused the entry (a cumulative refunded amount, a dispute id): makes each entry once-only';
create index earnings_entries_dj on private.earnings_entries (dj_id, currency);
alter table private.earnings_entries enable row level security;

------------------------------------------------------------------------------
-- Entitlements and the effective plan
------------------------------------------------------------------------------
create table public.entitlements (
  id bigint generated always as identity primary key,
  user_id uuid not null references public.profiles (id) on delete cascade,
  source text not null check (source in ('revenuecat', 'stripe')),
  source_ref text not null,
  plan_id text not null references public.plans (id),
  active boolean not null default true,
  expires_at timestamptz,
  will_renew boolean not null default true,
  billing_issue boolean not null default false,
  environment text not null default 'PRODUCTION',
  last_event_at timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (source, source_ref)
);
comment on table public.entitlements is 'Plan grants from RevenueCat (app stores) and Stripe (web). Grants while active and not past expires_at (null: no end). Written only by webhook functions.';
comment on column public.entitlements.source_ref is 'RevenueCat original_transaction_id, or Stripe subscription id';
comment on column public.entitlements.last_event_at is 'time of the newest applied provider event: older events never move it back';
create index entitlements_user on public.entitlements (user_id);
create index entitlements_plan on public.entitlements (plan_id);

revoke all on public.entitlements from anon, authenticated, service_role;
grant select on public.entitlements to authenticated;
grant select on public.entitlements to service_role;
alter table public.entitlements enable row level security;

create trigger entitlements_set_updated_at
before update on public.entitlements
for each row execute function private.set_updated_at();

-- Highest-ranked plan among live grants; expiry is checked at read time.
create or replace function private.effective_plan_id(p_user_id uuid) returns text
language sql stable
set search_path = ''
as $$
  select coalesce((
    select e.plan_id
    from public.entitlements e join public.plans p on p.id = e.plan_id
    where e.user_id = p_user_id and e.active and (e.expires_at is null or e.expires_at > now())
    order by p.rank desc
    limit 1), 'free')
$$;

create table public.stripe_customers (
  user_id uuid primary key references public.profiles (id) on delete cascade,
  stripe_customer_id text not null unique,
  created_at timestamptz not null default now()
);
comment on table public.stripe_customers is 'The Stripe customer of a user (web subscriptions). Readable by the user.';
revoke all on public.stripe_customers from anon, authenticated, service_role;
grant select on public.stripe_customers to authenticated, service_role;
alter table public.stripe_customers enable row level security;

------------------------------------------------------------------------------
-- Webhook event logs: every verified event kept once, with its outcome
------------------------------------------------------------------------------
create table private.webhook_events (
  provider text not null check (provider in ('stripe', 'revenuecat')),
  id text not null,
  type text not null,
  event_at timestamptz not null,
  payload jsonb not null,
  received_at timestamptz not null default now(),
  processed_at timestamptz,
  outcome text,
  attempts int not null default 0,
  last_error text,
  primary key (provider, id)
);
comment on table private.webhook_events is 'Every verified Stripe and authorized RevenueCat event, once (deduplicated on the provider''s event id). processed_at null: not applied yet (a failure or a crash), applied when the provider redelivers it.';
comment on column private.webhook_events.event_at is 'when the provider says the event happened (Stripe created, RevenueCat event_timestamp_ms)';
create index webhook_events_unprocessed on private.webhook_events (received_at) where processed_at is null;
alter table private.webhook_events enable row level security;

-- Record an event once; true while it is not applied yet. Asynchronous commit
-- is safe here: nothing is acknowledged on the strength of this record alone
-- (the apply commits durably before the 200; a lost record was never answered
-- 200, so the provider sends it again).
create function private.record_webhook_event(p_provider text, p_event jsonb) returns boolean
language plpgsql security definer
set search_path = ''
as $$
declare
  v_processed timestamptz;
begin
  perform set_config('synchronous_commit', 'off', true);
  insert into private.webhook_events (provider, id, type, event_at, payload)
  values (p_provider, p_event ->> 'id', p_event ->> 'type',
          case p_provider when 'stripe' then to_timestamp((p_event ->> 'created')::bigint)
                          else to_timestamp((p_event ->> 'event_timestamp_ms')::bigint / 1000.0) end,
          p_event)
  on conflict (provider, id) do nothing;
  select e.processed_at into v_processed from private.webhook_events e
  where e.provider = p_provider and e.id = p_event ->> 'id';
  return v_processed is null;
end;
$$;

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

create function private.finish_webhook_event(p_provider text, p_event_id text, p_outcome text) returns text
language sql
set search_path = ''
as $$
  update private.webhook_events e
  set processed_at = now(), outcome = p_outcome, attempts = e.attempts + 1, last_error = null
  where e.provider = p_provider and e.id = p_event_id
  returning e.outcome
$$;

-- Kept with the event when applying failed, for the retry and for people.
create function private.note_webhook_event_failure(p_provider text, p_event_id text, p_error text) returns void
language sql security definer
set search_path = ''
as $$
  update private.webhook_events e set attempts = e.attempts + 1, last_error = left(p_error, 2000)
  where e.provider = p_provider and e.id = p_event_id
$$;

------------------------------------------------------------------------------
-- Tips: creation (create-tip) and the Stripe-driven state machine
------------------------------------------------------------------------------
-- Record a pending tip, or return the one this client key already made.
-- Returns the tip; the edge then creates (or finds) its PaymentIntent.
create function private.create_tip(p_tipper_id uuid, p_session_id uuid, p_amount int, p_currency text,
                                   p_message text, p_client_key text, p_fee_bps int)
returns public.tips
language plpgsql security definer
set search_path = ''
as $$
declare
  v_session public.sessions;
  v_account public.payout_accounts;
  v_bounds private.tip_currencies;
  v_tip public.tips;
begin
  select * into v_tip from public.tips t where t.tipper_id = p_tipper_id and t.client_key = p_client_key;
  if found then
    if (v_tip.session_id, v_tip.amount, v_tip.currency) is distinct from (p_session_id, p_amount, lower(p_currency)) then
      raise exception using errcode = 'PT409', message = 'this idempotency key was used for a different tip';
    end if;
    return v_tip;
  end if;

  select * into v_session from public.sessions s where s.id = p_session_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'session not found';
  end if;
  if v_session.status <> 'live' then
    raise exception using errcode = 'PT409', message = 'tips go to live sessions only';
  end if;
  if not v_session.tips_enabled then
    raise exception using errcode = 'PT403', message = 'the DJ has turned tips off';
  end if;
  if v_session.dj_id = p_tipper_id then
    raise exception using errcode = 'PT409', message = 'you cannot tip yourself';
  end if;
  if not exists (select 1 from public.session_participants p
                 where p.session_id = p_session_id and p.user_id = p_tipper_id and p.left_at is null) then
    raise exception using errcode = 'PT403', message = 'join the session to tip';
  end if;
  if exists (select 1 from public.session_sanctions x
             where x.session_id = p_session_id and x.user_id = p_tipper_id and x.kind = 'ban')
     or private.is_blocked_between(p_tipper_id, v_session.dj_id) then
    raise exception using errcode = 'PT403', message = 'you cannot tip this DJ';
  end if;
  select * into v_bounds from private.tip_currencies c where c.currency = lower(p_currency);
  if not found then
    raise exception using errcode = 'PT422', message = format('tips in %s are not supported', upper(p_currency));
  end if;
  if p_amount not between v_bounds.min_amount and v_bounds.max_amount then
    raise exception using errcode = 'PT422',
      message = format('a tip is %s to %s %s', to_char(v_bounds.min_amount / 100.0, 'FM999990.00'),
                       to_char(v_bounds.max_amount / 100.0, 'FM999990.00'), upper(p_currency));
  end if;
  select * into v_account from public.payout_accounts a where a.dj_id = v_session.dj_id;
  if not found or not (v_account.charges_enabled and v_account.payouts_enabled) then
    raise exception using errcode = 'PT409', message = 'this DJ cannot receive tips yet';
  end if;

  insert into public.tips (session_id, tipper_id, dj_id, amount, currency, platform_fee, message, client_key,
                           stripe_account_id)
  values (p_session_id, p_tipper_id, v_session.dj_id, p_amount, lower(p_currency),
          (p_amount::bigint * p_fee_bps / 10000)::int, btrim(coalesce(p_message, '')), p_client_key,
          v_account.stripe_account_id)
  on conflict (tipper_id, client_key) do nothing
  returning * into v_tip;
  if not found then  -- the same key, a concurrent request: return its tip
    select * into v_tip from public.tips t where t.tipper_id = p_tipper_id and t.client_key = p_client_key;
  end if;
  return v_tip;
end;
$$;

create function private.attach_payment_intent(p_tip_id uuid, p_payment_intent_id text) returns public.tips
language sql security definer
set search_path = ''
as $$
  update public.tips t set stripe_payment_intent_id = coalesce(t.stripe_payment_intent_id, p_payment_intent_id)
  where t.id = p_tip_id
  returning *
$$;

create function private.credit_earnings(p_tip public.tips, p_kind text, p_amount int, p_reference text) returns void
language sql
set search_path = ''
as $$
  insert into private.earnings_entries (dj_id, tip_id, kind, amount, currency, reference)
  values (p_tip.dj_id, p_tip.id, p_kind, p_amount, p_tip.currency, p_reference)
  on conflict (tip_id, kind, reference) do nothing
$$;

-- Move a tip forward from a PaymentIntent's state. Terminal states stay put;
-- a failed attempt can still succeed or be canceled later.
create function private.apply_payment_intent(p_payment_intent jsonb) returns text
language plpgsql
set search_path = ''
as $$
declare
  v_tip public.tips;
  v_status public.tip_status;
  v_tipper text;
begin
  select * into v_tip from public.tips t
  where t.stripe_payment_intent_id = p_payment_intent ->> 'id'
     or t.id::text = p_payment_intent -> 'metadata' ->> 'tip_id'
  order by (t.stripe_payment_intent_id = p_payment_intent ->> 'id') desc nulls last
  limit 1
  for update;
  if not found then
    return 'ignored: no tip for this payment intent';
  end if;
  v_status := case p_payment_intent ->> 'status'
    when 'succeeded' then 'succeeded'
    when 'canceled' then 'canceled'
    when 'requires_payment_method' then case when p_payment_intent -> 'last_payment_error' is not null
                                             and p_payment_intent -> 'last_payment_error' <> 'null'::jsonb
                                        then 'failed' end
  end::public.tip_status;
  if v_status is null or v_status = v_tip.status
     or v_tip.status in ('succeeded', 'canceled', 'refunded', 'disputed') then
    return format('unchanged: tip is %s', v_tip.status);
  end if;

  update public.tips t
  set status = v_status,
      stripe_payment_intent_id = coalesce(t.stripe_payment_intent_id, p_payment_intent ->> 'id'),
      failure_reason = case when v_status = 'failed' then p_payment_intent -> 'last_payment_error' ->> 'message' end,
      succeeded_at = case when v_status = 'succeeded' then now() end
  where t.id = v_tip.id
  returning * into v_tip;

  if v_status = 'succeeded' then
    perform private.credit_earnings(v_tip, 'tip', v_tip.amount - v_tip.platform_fee, 'payment');
    select p.username into v_tipper from public.profiles p where p.id = v_tip.tipper_id;
    insert into public.messages (session_id, sender_id, kind, body, metadata)
    values (v_tip.session_id, v_tip.tipper_id, 'tip',
            format('%s tipped %s %s', v_tipper, to_char(v_tip.amount / 100.0, 'FM999990.00'), upper(v_tip.currency)),
            jsonb_build_object('tip_id', v_tip.id, 'amount', v_tip.amount, 'currency', v_tip.currency,
                               'message', v_tip.message));
    perform private.broadcast('user:' || v_tip.dj_id, 'tip_received', jsonb_build_object(
      'tip_id', v_tip.id, 'session_id', v_tip.session_id, 'tipper_id', v_tip.tipper_id, 'tipper_username', v_tipper,
      'amount', v_tip.amount, 'currency', v_tip.currency, 'message', v_tip.message));
  end if;
  return format('tip %s', v_status);
end;
$$;

-- charge.refunded carries the cumulative amount_refunded: apply the growth only,
-- so repeats and reordering change nothing. The DJ loses the refunded share
-- of their net (the transfer and the fee are reversed proportionally).
create function private.apply_charge_refund(p_charge jsonb) returns text
language plpgsql
set search_path = ''
as $$
declare
  v_tip public.tips;
  v_refunded int := (p_charge ->> 'amount_refunded')::int;
begin
  select * into v_tip from public.tips t where t.stripe_payment_intent_id = p_charge ->> 'payment_intent' for update;
  if not found then
    return 'ignored: no tip for this charge';
  end if;
  if v_tip.status not in ('succeeded', 'refunded', 'disputed') or v_refunded <= v_tip.amount_refunded then
    return format('unchanged: tip is %s with %s refunded', v_tip.status, v_tip.amount_refunded);
  end if;
  perform private.credit_earnings(v_tip, 'refund',
    -(((v_refunded - v_tip.amount_refunded)::bigint * (v_tip.amount - v_tip.platform_fee)) / v_tip.amount)::int,
    v_refunded::text);
  update public.tips t
  set amount_refunded = v_refunded, status = case when t.status = 'disputed' then t.status else 'refunded' end
  where t.id = v_tip.id;
  return format('tip refunded %s of %s', v_refunded, v_tip.amount);
end;
$$;

-- A dispute holds back what the DJ still had of the tip; winning it gives it back.
create function private.apply_dispute(p_dispute jsonb, p_closed boolean) returns text
language plpgsql
set search_path = ''
as $$
declare
  v_tip public.tips;
  v_net_left int;
begin
  select * into v_tip from public.tips t where t.stripe_payment_intent_id = p_dispute ->> 'payment_intent' for update;
  if not found then
    return 'ignored: no tip for this dispute';
  end if;
  if v_tip.status not in ('succeeded', 'refunded', 'disputed') then
    return format('unchanged: tip is %s', v_tip.status);
  end if;
  v_net_left := (v_tip.amount - v_tip.platform_fee)
                - ((v_tip.amount_refunded::bigint * (v_tip.amount - v_tip.platform_fee)) / v_tip.amount)::int;
  perform private.credit_earnings(v_tip, 'dispute', -v_net_left, p_dispute ->> 'id');
  if p_closed and p_dispute ->> 'status' = 'won' then
    perform private.credit_earnings(v_tip, 'dispute_won', v_net_left, p_dispute ->> 'id');
  end if;
  update public.tips t
  set status = 'disputed',
      dispute_status = case
        when t.dispute_status in ('won', 'lost') then t.dispute_status  -- closed outcomes are final
        else p_dispute ->> 'status' end
  where t.id = v_tip.id;
  return format('tip disputed (%s)', p_dispute ->> 'status');
end;
$$;

------------------------------------------------------------------------------
-- Payout accounts and Stripe customers (dj-connect, checkout)
------------------------------------------------------------------------------
create function private.payout_account_of(p_dj_id uuid) returns public.payout_accounts
language plpgsql security definer
set search_path = ''
as $$
declare
  v_account public.payout_accounts;
begin
  if not exists (select 1 from public.profiles p where p.id = p_dj_id and p.is_dj) then
    raise exception using errcode = 'PT403', message = 'only DJs set up payouts: switch on is_dj in your profile first';
  end if;
  select * into v_account from public.payout_accounts a where a.dj_id = p_dj_id;
  return v_account;
end;
$$;

create function private.attach_payout_account(p_dj_id uuid, p_stripe_account_id text) returns public.payout_accounts
language sql security definer
set search_path = ''
as $$
  insert into public.payout_accounts (dj_id, stripe_account_id) values (p_dj_id, p_stripe_account_id)
  on conflict (dj_id) do update set dj_id = excluded.dj_id  -- keep the first account; return it
  returning *
$$;

create function private.apply_account(p_account jsonb, p_event_at timestamptz) returns text
language plpgsql
set search_path = ''
as $$
begin
  update public.payout_accounts a
  set charges_enabled = coalesce((p_account ->> 'charges_enabled')::boolean, false),
      payouts_enabled = coalesce((p_account ->> 'payouts_enabled')::boolean, false),
      details_submitted = coalesce((p_account ->> 'details_submitted')::boolean, false),
      requirements_due = coalesce(array(select jsonb_array_elements_text(p_account -> 'requirements' -> 'currently_due')), '{}'),
      disabled_reason = p_account -> 'requirements' ->> 'disabled_reason',
      last_event_at = p_event_at
  where a.stripe_account_id = p_account ->> 'id'
    and (a.last_event_at is null or a.last_event_at <= p_event_at);
  if found then
    return 'payout account updated';
  end if;
  return 'unchanged: unknown account or an older event';
end;
$$;

create function private.stripe_customer_of(p_user_id uuid) returns text
language sql stable security definer
set search_path = ''
as $$ select c.stripe_customer_id from public.stripe_customers c where c.user_id = p_user_id $$;

create function private.attach_stripe_customer(p_user_id uuid, p_customer_id text) returns text
language sql security definer
set search_path = ''
as $$
  insert into public.stripe_customers (user_id, stripe_customer_id) values (p_user_id, p_customer_id)
  on conflict (user_id) do update set user_id = excluded.user_id
  returning stripe_customer_id
$$;

------------------------------------------------------------------------------
-- Web subscriptions (Stripe Checkout)
------------------------------------------------------------------------------
-- Statuses that grant access until the current period ends: active, trialing,
-- past_due (Stripe is still retrying payment). The rest grant nothing:
-- incomplete, incomplete_expired, unpaid, canceled, paused.
create function private.apply_subscription(p_subscription jsonb, p_event_at timestamptz) returns text
language plpgsql
set search_path = ''
as $$
declare
  v_user_id uuid;
  v_plan_id text := p_subscription -> 'metadata' ->> 'plan_id';
  v_period_end timestamptz;
begin
  v_user_id := coalesce(
    (select c.user_id from public.stripe_customers c where c.stripe_customer_id = p_subscription ->> 'customer'),
    (select p.id from public.profiles p where p.id::text = p_subscription -> 'metadata' ->> 'user_id'));
  if v_user_id is null then
    raise exception 'no user for Stripe customer %', p_subscription ->> 'customer';  -- retried: checkout may land first
  end if;
  if not exists (select 1 from public.plans p where p.id = v_plan_id) then
    return format('ignored: unknown plan %s', coalesce(v_plan_id, '(none)'));
  end if;
  select to_timestamp(max((i ->> 'current_period_end')::bigint)) into v_period_end
  from jsonb_array_elements(p_subscription -> 'items' -> 'data') as i;

  insert into public.entitlements as e (user_id, source, source_ref, plan_id, active, expires_at, will_renew, last_event_at)
  values (v_user_id, 'stripe', p_subscription ->> 'id', v_plan_id,
          p_subscription ->> 'status' in ('active', 'trialing', 'past_due'), v_period_end,
          not coalesce((p_subscription ->> 'cancel_at_period_end')::boolean, false), p_event_at)
  on conflict (source, source_ref) do update
    set plan_id = excluded.plan_id, active = excluded.active, expires_at = excluded.expires_at,
        will_renew = excluded.will_renew, billing_issue = (p_subscription ->> 'status') = 'past_due',
        last_event_at = excluded.last_event_at
    where e.last_event_at <= excluded.last_event_at;
  return format('subscription %s', p_subscription ->> 'status');
end;
$$;

------------------------------------------------------------------------------
-- Stripe events: each handled type moves one state forward
------------------------------------------------------------------------------
create function private.apply_stripe_event(p_event_id text) returns text
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
    when 'charge.dispute.created' then private.apply_dispute(v_object, false)
    when 'charge.dispute.closed' then private.apply_dispute(v_object, true)
    when 'account.updated' then private.apply_account(v_object, v_event.event_at)
    when 'checkout.session.completed' then private.apply_checkout_session(v_object)
    when 'customer.subscription.created' then private.apply_subscription(v_object, v_event.event_at)
    when 'customer.subscription.updated' then private.apply_subscription(v_object, v_event.event_at)
    when 'customer.subscription.deleted' then private.apply_subscription(v_object, v_event.event_at)
    when 'invoice.paid' then private.apply_invoice(v_object, true)
    when 'invoice.payment_failed' then private.apply_invoice(v_object, false)
    else 'ignored: unhandled type'
  end);
end;
$$;

create function private.apply_checkout_session(p_session jsonb) returns text
language plpgsql
set search_path = ''
as $$
declare
  v_user_id uuid;
begin
  if p_session ->> 'mode' <> 'subscription' then
    return 'ignored: not a subscription checkout';
  end if;
  select p.id into v_user_id from public.profiles p where p.id::text = p_session ->> 'client_reference_id';
  if v_user_id is null then
    return 'ignored: client_reference_id is not a user';
  end if;
  if p_session ->> 'customer' is not null then
    insert into public.stripe_customers (user_id, stripe_customer_id) values (v_user_id, p_session ->> 'customer')
    on conflict do nothing;
  end if;
  return format('checkout completed (%s)', p_session ->> 'payment_status');
end;
$$;

-- invoice.paid extends the grant to the end of the paid period; a failed
-- payment only flags it (the subscription's own status decides access).
create function private.apply_invoice(p_invoice jsonb, p_paid boolean) returns text
language plpgsql
set search_path = ''
as $$
declare
  v_subscription_id text := p_invoice -> 'parent' -> 'subscription_details' ->> 'subscription';
  v_period_end timestamptz;
begin
  if v_subscription_id is null then
    return 'ignored: not a subscription invoice';
  end if;
  if p_paid then
    select to_timestamp(max((l -> 'period' ->> 'end')::bigint)) into v_period_end
    from jsonb_array_elements(p_invoice -> 'lines' -> 'data') as l;
    update public.entitlements e
    set expires_at = greatest(e.expires_at, v_period_end), billing_issue = false
    where e.source = 'stripe' and e.source_ref = v_subscription_id;
  else
    update public.entitlements e set billing_issue = true
    where e.source = 'stripe' and e.source_ref = v_subscription_id;
  end if;
  if not found then
    raise exception 'no entitlement yet for subscription %', v_subscription_id;  -- retried after it exists
  end if;
  return case when p_paid then 'invoice paid' else 'invoice payment failed' end;
end;
$$;

------------------------------------------------------------------------------
-- RevenueCat events
------------------------------------------------------------------------------
-- The user of an event: the first of app_user_id, original_app_user_id and
-- aliases that is one of our user ids (the app logs in to RevenueCat with it).
create function private.revenuecat_user(p_event jsonb) returns uuid
language sql stable
set search_path = ''
as $$
  select p.id
  from (select p_event ->> 'app_user_id' as candidate, 0 as preference
        union all select p_event ->> 'original_app_user_id', 1
        union all select a, 2 from jsonb_array_elements_text(coalesce(p_event -> 'aliases', '[]')) as a) c
  join public.profiles p on p.id::text = c.candidate
  order by c.preference
  limit 1
$$;

-- Grant types: INITIAL_PURCHASE, RENEWAL, NON_RENEWING_PURCHASE,
-- SUBSCRIPTION_EXTENDED, TEMPORARY_ENTITLEMENT_GRANT, REFUND_REVERSED,
-- UNCANCELLATION, PRODUCT_CHANGE. CANCELLATION keeps access until the
-- expiration it carries (a refund carries one in the past); EXPIRATION
-- revokes; BILLING_ISSUE and SUBSCRIPTION_PAUSED only flag; TRANSFER moves
-- the grants. Events older than what an entitlement has seen change nothing.
create function private.apply_revenuecat_event(p_event_id text, p_environment text) returns text
language plpgsql security definer
set search_path = ''
as $$
declare
  v_row private.webhook_events := private.claim_webhook_event('revenuecat', p_event_id);
  v_event jsonb;
  v_type text;
  v_user_id uuid;
  v_plan_id text;
  v_event_at timestamptz;
  v_expires timestamptz;
  v_ref text;
  v_outcome text;
begin
  if v_row is null then
    return 'duplicate';
  end if;
  v_event := v_row.payload;
  v_type := v_event ->> 'type';
  v_event_at := v_row.event_at;
  v_expires := to_timestamp((v_event ->> 'expiration_at_ms')::bigint / 1000.0);
  v_ref := coalesce(v_event ->> 'original_transaction_id', v_event ->> 'transaction_id', v_event ->> 'id');

  if v_event ->> 'environment' is distinct from p_environment then
    v_outcome := format('ignored: %s event, this deployment takes %s', v_event ->> 'environment', p_environment);
  elsif v_type = 'TRANSFER' then
    update public.entitlements e
    set user_id = (select p.id from jsonb_array_elements_text(v_event -> 'transferred_to') t
                   join public.profiles p on p.id::text = t limit 1),
        last_event_at = v_event_at
    where e.source = 'revenuecat'
      and e.user_id in (select p.id from jsonb_array_elements_text(v_event -> 'transferred_from') f
                        join public.profiles p on p.id::text = f)
      and exists (select 1 from jsonb_array_elements_text(v_event -> 'transferred_to') t
                  join public.profiles p on p.id::text = t)
      and e.last_event_at <= v_event_at;
    v_outcome := 'transferred';
  else
    v_user_id := private.revenuecat_user(v_event);
    select p.id into v_plan_id from public.plans p
    where p.id in (select jsonb_array_elements_text(coalesce(v_event -> 'entitlement_ids', '[]')))
    order by p.rank desc limit 1;
    if v_user_id is null then
      v_outcome := 'ignored: no user for this event';
    elsif v_type in ('INITIAL_PURCHASE', 'RENEWAL', 'NON_RENEWING_PURCHASE', 'SUBSCRIPTION_EXTENDED',
                     'TEMPORARY_ENTITLEMENT_GRANT', 'REFUND_REVERSED', 'UNCANCELLATION', 'PRODUCT_CHANGE') then
      if v_plan_id is null then
        v_outcome := 'ignored: no entitlement maps to a plan';
      else
        insert into public.entitlements as e (user_id, source, source_ref, plan_id, active, expires_at, will_renew,
                                              environment, last_event_at)
        values (v_user_id, 'revenuecat', v_ref, v_plan_id, true, v_expires, v_type <> 'NON_RENEWING_PURCHASE',
                v_event ->> 'environment', v_event_at)
        on conflict (source, source_ref) do update
          set user_id = excluded.user_id, plan_id = excluded.plan_id, active = true, expires_at = excluded.expires_at,
              will_renew = excluded.will_renew, billing_issue = false, last_event_at = excluded.last_event_at
          where e.last_event_at <= excluded.last_event_at;
        v_outcome := format('granted %s', v_plan_id);
      end if;
    elsif v_type = 'CANCELLATION' then
      update public.entitlements e set will_renew = false, expires_at = coalesce(v_expires, e.expires_at),
                                       last_event_at = v_event_at
      where e.source = 'revenuecat' and e.source_ref = v_ref and e.last_event_at <= v_event_at;
      v_outcome := 'canceled: access until expiry';
    elsif v_type = 'EXPIRATION' then
      update public.entitlements e set active = false, will_renew = false,
                                       expires_at = coalesce(v_expires, v_event_at), last_event_at = v_event_at
      where e.source = 'revenuecat' and e.source_ref = v_ref and e.last_event_at <= v_event_at;
      v_outcome := 'expired';
    elsif v_type in ('BILLING_ISSUE', 'SUBSCRIPTION_PAUSED') then
      update public.entitlements e set billing_issue = (v_type = 'BILLING_ISSUE'), last_event_at = v_event_at
      where e.source = 'revenuecat' and e.source_ref = v_ref and e.last_event_at <= v_event_at;
      v_outcome := format('%s noted: access unchanged', lower(v_type));
    else
      v_outcome := 'ignored: unhandled type';
    end if;
  end if;

  return private.finish_webhook_event('revenuecat', p_event_id, v_outcome);
end;
$$;

------------------------------------------------------------------------------
-- What the app reads
------------------------------------------------------------------------------
create function private.my_earnings() returns table (currency text, tips int, gross bigint, refunds bigint,
                                                     disputes bigint, net bigint)
language sql stable security definer
set search_path = ''
as $$
  select e.currency,
         count(*) filter (where e.kind = 'tip')::int,
         coalesce(sum(e.amount) filter (where e.kind = 'tip'), 0),
         coalesce(sum(e.amount) filter (where e.kind = 'refund'), 0),
         coalesce(sum(e.amount) filter (where e.kind in ('dispute', 'dispute_won')), 0),
         sum(e.amount)
  from private.earnings_entries e
  where e.dj_id = (select auth.uid())
  group by e.currency
  order by e.currency
$$;

create function public.my_earnings() returns table (currency text, tips int, gross bigint, refunds bigint,
                                                    disputes bigint, net bigint)
language sql stable security invoker set search_path = ''
as $$ select * from private.my_earnings() $$;
comment on function public.my_earnings() is 'Your earnings per currency, in minor units, net of the platform fee: tips, refunds and disputes (negative), net.';

create function public.my_plan() returns table (plan_id text, name text, expires_at timestamptz, source text,
                                                max_participants int, max_scheduled_sessions int,
                                                max_queue_length int, max_queued_songs_per_listener int)
language sql stable security invoker set search_path = ''
as $$
  select p.id, p.name, g.expires_at, g.source,
         p.max_participants, p.max_scheduled_sessions, p.max_queue_length, p.max_queued_songs_per_listener
  from private.plan_of((select auth.uid())) p
  left join lateral (
    select e.expires_at, e.source from public.entitlements e
    where e.user_id = (select auth.uid()) and e.plan_id = p.id and e.active
      and (e.expires_at is null or e.expires_at > now())
    order by e.expires_at desc nulls first
    limit 1
  ) g on true
$$;
comment on function public.my_plan() is 'Your effective plan (highest active entitlement, expiry checked now) and its limits.';

revoke all on function public.my_earnings(), public.my_plan(), private.my_earnings() from public, anon;
grant execute on function public.my_earnings(), public.my_plan(), private.my_earnings() to authenticated;

-- The edge calls these and nothing else.
grant execute on function
  private.create_tip(uuid, uuid, int, text, text, text, int),
  private.attach_payment_intent(uuid, text),
  private.payout_account_of(uuid),
  private.attach_payout_account(uuid, text),
  private.stripe_customer_of(uuid),
  private.attach_stripe_customer(uuid, text),
  private.record_webhook_event(text, jsonb),
  private.note_webhook_event_failure(text, text, text),
  private.apply_stripe_event(text),
  private.apply_revenuecat_event(text, text)
to openparty_edge, service_role;
grant execute on function private.plan_of(uuid) to openparty_edge;
