-- Tips and payouts: DJ payout accounts (Stripe Connect Express), tips as
-- destination charges with a state machine driven only by verified Stripe
-- events, the DJs' earnings ledger, and the reconciliation the worker runs.
-- The edge (role openparty_edge) calls only the functions granted to it; each
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

-- Payout accounts and Stripe customers (dj-connect, checkout)
create function private.payout_account_of(p_dj_id uuid) returns public.payout_accounts
language plpgsql security definer
set search_path = ''
as $$
declare
  v_account public.payout_accounts;
begin
  if not exists (select 1 from public.profiles p where p.id = p_dj_id and (p.is_dj or p.is_artist)) then
    raise exception using errcode = 'PT403', message = 'only DJs and artists set up payouts: switch on is_dj or is_artist in your profile first';
  end if;
  select * into v_account from public.payout_accounts a where a.dj_id = p_dj_id;
  return v_account;
end;
$$;
revoke all on function private.payout_account_of(uuid) from public, anon, authenticated, service_role;
grant execute on function private.payout_account_of(uuid) to openparty_edge, service_role;

create function private.attach_payout_account(p_dj_id uuid, p_stripe_account_id text) returns public.payout_accounts
language sql security definer
set search_path = ''
as $$
  insert into public.payout_accounts (dj_id, stripe_account_id) values (p_dj_id, p_stripe_account_id)
  on conflict (dj_id) do update set dj_id = excluded.dj_id  -- keep the first account; return it
  returning *
$$;
revoke all on function private.attach_payout_account(uuid, text) from public, anon, authenticated, service_role;
grant execute on function private.attach_payout_account(uuid, text) to openparty_edge, service_role;

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
revoke all on function private.apply_account(jsonb, timestamp with time zone) from public, anon, authenticated, service_role;

-- Payouts of the DJs' connected accounts to their banks, from payout.* events
-- on the Connect endpoint (event.account names the account).
create table public.payouts (
  id text primary key,
  -- A money record: kept when the DJ deletes their account, without its owner.
  dj_id uuid references public.profiles (id) on delete set null,
  stripe_account_id text not null,
  amount bigint not null,
  currency text not null,
  status text not null,
  arrival_date timestamptz,
  method text,
  automatic boolean,
  failure_code text,
  failure_message text,
  payout_created_at timestamptz,
  last_event_at timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.payouts is 'A DJ''s payout history (Stripe payouts of their connected account, from payout.* Connect events). Readable by the DJ alone.';
comment on column public.payouts.status is 'pending → in_transit → paid, or failed / canceled (failure_code, failure_message say why); never moves back';
comment on column public.payouts.amount is 'minor units of currency';
create index payouts_dj on public.payouts (dj_id, arrival_date desc);
revoke all on public.payouts from anon, authenticated, service_role;
grant select on public.payouts to authenticated;
grant select on public.payouts to service_role;
alter table public.payouts enable row level security;

create trigger payouts_set_updated_at
before update on public.payouts
for each row execute function private.set_updated_at();

-- Newer events win; a settled payout (paid / failed / canceled) never goes back
-- to pending or in_transit, whatever the arrival order. A payout of an
-- account that is no DJ's (or the platform's own: no account) is ignored.
create function private.apply_payout(p_payout jsonb, p_account text, p_event_at timestamptz) returns text
language plpgsql
set search_path = ''
as $$
declare
  v_dj_id uuid;
begin
  select a.dj_id into v_dj_id from public.payout_accounts a where a.stripe_account_id = p_account;
  if v_dj_id is null then
    return 'ignored: not a DJ''s connected account';
  end if;
  if p_payout ->> 'id' is null or p_payout ->> 'status' is null or p_payout ->> 'currency' is null
     or jsonb_typeof(p_payout -> 'amount') is distinct from 'number' then
    return 'ignored: not a payout object';
  end if;
  insert into public.payouts as p (id, dj_id, stripe_account_id, amount, currency, status, arrival_date, method,
                                   automatic, failure_code, failure_message, payout_created_at, last_event_at)
  values (p_payout ->> 'id', v_dj_id, p_account, (p_payout ->> 'amount')::bigint, lower(p_payout ->> 'currency'),
          p_payout ->> 'status', to_timestamp((p_payout ->> 'arrival_date')::bigint), p_payout ->> 'method',
          (p_payout ->> 'automatic')::boolean, p_payout ->> 'failure_code', p_payout ->> 'failure_message',
          to_timestamp((p_payout ->> 'created')::bigint), p_event_at)
  on conflict (id) do update
    set amount = excluded.amount, currency = excluded.currency, status = excluded.status,
        arrival_date = excluded.arrival_date, method = excluded.method, automatic = excluded.automatic,
        failure_code = excluded.failure_code, failure_message = excluded.failure_message,
        last_event_at = excluded.last_event_at
    where p.dj_id = excluded.dj_id
      and p.last_event_at <= excluded.last_event_at
      and not (p.status in ('paid', 'failed', 'canceled') and excluded.status in ('pending', 'in_transit'));
  if not found then
    return 'unchanged: an older event';
  end if;
  return format('payout %s', p_payout ->> 'status');
end;
$$;
revoke all on function private.apply_payout(jsonb, text, timestamp with time zone) from public, anon, authenticated, service_role;

------------------------------------------------------------------------------
-- Tips
------------------------------------------------------------------------------

-- Tips
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
  -- Money records outlive the people in them: deleting an account (or a DJ's
  -- sessions with it) anonymises the tip (null), amounts and states stay.
  session_id uuid references public.sessions (id) on delete set null,
  tipper_id uuid references public.profiles (id) on delete set null,
  dj_id uuid references public.profiles (id) on delete set null,
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
  stripe_charge_id text unique,
  stripe_account_id text not null,
  reconciled_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  succeeded_at timestamptz,
  constraint tips_refund_within_amount check (amount_refunded <= amount),
  constraint tips_fee_within_amount check (platform_fee < amount),
  unique (tipper_id, client_key)
);
comment on table public.tips is 'A listener''s tip to a DJ: a state machine driven only by verified Stripe events. The tipper and the DJ read it.';
comment on column public.tips.client_key is 'the app''s idempotency key: the same key returns the same tip and PaymentIntent';
comment on column public.tips.stripe_charge_id is 'the PaymentIntent''s charge (latest_charge of its success): refunds and disputes name the charge, and a dispute may carry no payment_intent';
comment on column public.tips.reconciled_at is 'when reconciliation last checked this pending tip at Stripe: each round takes the least recently checked first';
comment on column public.tips.dispute_status is 'the Stripe dispute''s status, only moving forward (private.dispute_status_rank). warning_*: a card inquiry, no money moves; needs_response / under_review / won / lost: a chargeback';
create index tips_session on public.tips (session_id);
create index tips_dj on public.tips (dj_id, created_at desc);
create index tips_pending on public.tips (reconciled_at nulls first, created_at) where status = 'pending';
create index tips_currency on public.tips (currency);
revoke all on public.tips from anon, authenticated, service_role;
-- The tipper and the DJ read the same row, so neither may read the other's
-- identifiers: client_key is the tipper's idempotency key (the app keeps its
-- own copy), stripe_account_id is the DJ's connected account (the DJ reads it
-- in payout_accounts). A column grant leaves both out of the app's reads.
grant select (id, session_id, tipper_id, dj_id, amount, currency, platform_fee, message, status, amount_refunded,
              dispute_status, failure_reason, stripe_payment_intent_id, created_at, updated_at, succeeded_at)
  on public.tips to authenticated;
grant select on public.tips to service_role;
alter table public.tips enable row level security;

create trigger tips_set_updated_at
before update on public.tips
for each row execute function private.set_updated_at();

create table private.earnings_entries (
  id bigint generated always as identity primary key,
  dj_id uuid references public.profiles (id) on delete set null,  -- kept, anonymised, when the DJ deletes the account
  tip_id uuid not null references public.tips (id) on delete cascade,
  kind text not null check (kind in ('tip', 'refund', 'dispute', 'dispute_won')),
  amount int not null,
  currency text not null,
  reference text not null,
  created_at timestamptz not null default now(),
  unique (tip_id, kind, reference)
);
comment on table private.earnings_entries is 'The DJs'' earnings ledger (net of the platform fee; negative for refunds and disputes). Written only by definer code; a DJ reads their own entries'' dj_id, kind, amount and currency (policy earnings_entries_select).';
comment on column private.earnings_entries.reference is 'what caused the entry (a cumulative refunded amount, a dispute id): makes each entry once-only';
create index earnings_entries_dj on private.earnings_entries (dj_id, currency);
revoke all on private.earnings_entries from anon, authenticated, service_role;
-- authenticated: public.my_earnings() (security invoker) sums the caller's own entries (policy earnings_entries_select).
grant select (dj_id, kind, amount, currency) on private.earnings_entries to authenticated;
alter table private.earnings_entries enable row level security;

-- Tips: creation (create-tip) and the Stripe-driven state machine
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
  if private.is_banned(p_session_id, p_tipper_id)
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
revoke all on function private.create_tip(uuid, uuid, integer, text, text, text, integer) from public, anon, authenticated, service_role;
grant execute on function private.create_tip(uuid, uuid, integer, text, text, text, integer) to openparty_edge, service_role;

create function private.attach_payment_intent(p_tip_id uuid, p_payment_intent_id text) returns public.tips
language sql security definer
set search_path = ''
as $$
  update public.tips t set stripe_payment_intent_id = coalesce(t.stripe_payment_intent_id, p_payment_intent_id)
  where t.id = p_tip_id
  returning *
$$;
revoke all on function private.attach_payment_intent(uuid, text) from public, anon, authenticated, service_role;
grant execute on function private.attach_payment_intent(uuid, text) to openparty_edge, service_role;

create function private.credit_earnings(p_tip public.tips, p_kind text, p_amount int, p_reference text) returns void
language sql
set search_path = ''
as $$
  insert into private.earnings_entries (dj_id, tip_id, kind, amount, currency, reference)
  values (p_tip.dj_id, p_tip.id, p_kind, p_amount, p_tip.currency, p_reference)
  on conflict (tip_id, kind, reference) do nothing
$$;
revoke all on function private.credit_earnings(public.tips, text, integer, text) from public, anon, authenticated, service_role;

-- Move a tip forward from a PaymentIntent's state. Terminal states stay put;
-- a failed attempt can still succeed or be canceled later. Match, don't
-- trust: the PaymentIntent must be the one stored on the tip (metadata can
-- name any tip) and carry the tip's amount and currency; anything else is
-- 'ignored: mismatch' and changes nothing.
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
  for update;
  if not found then
    if exists (select 1 from public.tips t where t.id::text = p_payment_intent -> 'metadata' ->> 'tip_id') then
      return 'ignored: mismatch';  -- names a tip, but not that tip's PaymentIntent
    end if;
    return 'ignored: no tip for this payment intent';
  end if;
  if p_payment_intent -> 'amount' is distinct from to_jsonb(v_tip.amount)
     or lower(p_payment_intent ->> 'currency') is distinct from v_tip.currency then
    return 'ignored: mismatch';
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
      failure_reason = case v_status
        when 'failed' then p_payment_intent -> 'last_payment_error' ->> 'message'
        when 'canceled' then p_payment_intent ->> 'cancellation_reason' end,  -- e.g. abandoned
      succeeded_at = case when v_status = 'succeeded' then now() end,
      -- latest_charge is an id, or the charge itself when expanded
      stripe_charge_id = case when v_status = 'succeeded'
        then coalesce(p_payment_intent -> 'latest_charge' ->> 'id', p_payment_intent ->> 'latest_charge') end
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
revoke all on function private.apply_payment_intent(jsonb) from public, anon, authenticated, service_role;

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
  select * into v_tip from public.tips t
  where t.stripe_payment_intent_id = p_charge ->> 'payment_intent' or t.stripe_charge_id = p_charge ->> 'id'
  for update;
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
revoke all on function private.apply_charge_refund(jsonb) from public, anon, authenticated, service_role;

-- Disputes. Stripe's dispute statuses, in the order they can follow each
-- other: a card inquiry (warning_needs_response → warning_under_review →
-- warning_closed) moves no money and may escalate into a chargeback
-- (needs_response → under_review → won / lost). A status never moves back.
create function private.dispute_status_rank(p_status text) returns int
language sql immutable
set search_path = ''
as $$
  select case p_status
    when 'warning_needs_response' then 1 when 'warning_under_review' then 2 when 'warning_closed' then 3
    when 'needs_response' then 4 when 'under_review' then 5
    when 'won' then 6 when 'lost' then 6 when 'prevented' then 6
    else 0 end
$$;
revoke all on function private.dispute_status_rank(text) from public, anon, authenticated, service_role;

-- charge.dispute.created / .updated / .closed (p_funds null) track the status:
-- an inquiry leaves the tip and the DJ's balance alone; a chargeback marks the
-- tip disputed. The money follows charge.dispute.funds_withdrawn (the DJ's
-- share of the disputed amount, at most what refunds left them) and
-- charge.dispute.funds_reinstated (what was withdrawn, given back), once per
-- dispute each. A dispute names its charge; payment_intent may be null.
create function private.apply_dispute(p_dispute jsonb, p_funds text default null) returns text
language plpgsql
set search_path = ''
as $$
declare
  v_tip public.tips;
  v_status text := p_dispute ->> 'status';
  v_net int;
  v_net_left int;
  v_withdrawn int;
begin
  select * into v_tip from public.tips t
  where t.stripe_payment_intent_id = p_dispute ->> 'payment_intent' or t.stripe_charge_id = p_dispute ->> 'charge'
  for update;
  if not found then
    return 'ignored: no tip for this dispute';
  end if;
  if v_tip.status not in ('succeeded', 'refunded', 'disputed') then
    return format('unchanged: tip is %s', v_tip.status);
  end if;

  update public.tips t
  set dispute_status = case when private.dispute_status_rank(v_status) > private.dispute_status_rank(t.dispute_status)
                            then v_status else t.dispute_status end,
      status = case when private.dispute_status_rank(v_status) >= 4 or p_funds is not null
                    then 'disputed' else t.status end
  where t.id = v_tip.id;

  v_net := v_tip.amount - v_tip.platform_fee;
  if p_funds = 'withdrawn' then
    v_net_left := v_net - ((v_tip.amount_refunded::bigint * v_net) / v_tip.amount)::int;
    perform private.credit_earnings(v_tip, 'dispute',
      -least(v_net_left, ((coalesce((p_dispute ->> 'amount')::bigint, v_tip.amount) * v_net) / v_tip.amount)::int),
      p_dispute ->> 'id');
    return format('dispute funds withdrawn (%s)', v_status);
  elsif p_funds = 'reinstated' then
    select -e.amount into v_withdrawn from private.earnings_entries e
    where e.tip_id = v_tip.id and e.kind = 'dispute' and e.reference = p_dispute ->> 'id';
    if v_withdrawn is null then
      raise exception 'dispute % reinstated before its withdrawal was applied', p_dispute ->> 'id';  -- retried
    end if;
    perform private.credit_earnings(v_tip, 'dispute_won', v_withdrawn, p_dispute ->> 'id');
    return format('dispute funds reinstated (%s)', v_status);
  end if;
  return format('%s %s', case when private.dispute_status_rank(v_status) between 1 and 3 then 'inquiry' else 'dispute' end,
                v_status);
end;
$$;
revoke all on function private.apply_dispute(jsonb, text) from public, anon, authenticated, service_role;

------------------------------------------------------------------------------
-- Reconciliation: tips still pending after p_age. Those with a PaymentIntent
-- are checked against Stripe by the worker; those without one never reached
-- Stripe (the app gave up) and are canceled here.
------------------------------------------------------------------------------
-- Claims the next batch to check and records the check: the least recently
-- checked first, so every pending tip gets its turn however many others stay
-- pending (the worker holds an advisory lock; skip locked spares a tip a
-- webhook is applying right now).
create function private.stale_pending_tips(p_age interval, p_limit int, p_now timestamptz default now())
returns table (tip_id uuid, payment_intent_id text)
language sql security definer
set search_path = ''
as $$
  with due as (
    select t.id from public.tips t
    where t.status = 'pending' and t.created_at < p_now - p_age and t.stripe_payment_intent_id is not null
    order by t.reconciled_at nulls first, t.created_at
    limit p_limit
    for update skip locked
  )
  update public.tips t set reconciled_at = p_now
  from due where t.id = due.id
  returning t.id, t.stripe_payment_intent_id
$$;
revoke all on function private.stale_pending_tips(interval, integer, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function private.stale_pending_tips(interval, integer, timestamp with time zone) to openparty_worker, service_role;

create function private.cancel_unsubmitted_tips(p_age interval, p_limit int, p_now timestamptz default now())
returns int
language sql security definer
set search_path = ''
as $$
  with stale as (
    select t.id from public.tips t
    where t.status = 'pending' and t.stripe_payment_intent_id is null and t.created_at < p_now - p_age
    order by t.created_at
    limit p_limit
    for update skip locked
  ), canceled as (
    update public.tips t set status = 'canceled', failure_reason = 'never submitted to Stripe'
    from stale where t.id = stale.id
    returning 1
  )
  select count(*)::int from canceled
$$;
revoke all on function private.cancel_unsubmitted_tips(interval, integer, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function private.cancel_unsubmitted_tips(interval, integer, timestamp with time zone) to openparty_worker, service_role;

-- A PaymentIntent fetched from Stripe, applied exactly as its webhook would
-- be; except that one of a pending tip older than p_abandon_after still
-- waiting for the payer (requires_payment_method with no error: the payment
-- sheet was closed; requires_confirmation; requires_action) answers
-- 'abandoned' and changes nothing: the worker cancels it at Stripe and
-- applies the canceled PaymentIntent Stripe returns (so a payer who completes
-- it meanwhile is never left with a canceled tip).
create function private.reconcile_payment_intent(p_payment_intent jsonb, p_abandon_after interval,
                                                 p_now timestamptz default now()) returns text
language plpgsql security definer
set search_path = ''
as $$
begin
  if p_payment_intent ->> 'status' in ('requires_payment_method', 'requires_confirmation', 'requires_action')
     and coalesce(p_payment_intent -> 'last_payment_error', 'null'::jsonb) = 'null'::jsonb
     and exists (select 1 from public.tips t
                 where t.stripe_payment_intent_id = p_payment_intent ->> 'id' and t.status = 'pending'
                   and t.amount = (p_payment_intent ->> 'amount')::int
                   and t.currency = lower(p_payment_intent ->> 'currency')
                   and t.created_at < p_now - p_abandon_after) then
    return 'abandoned';
  end if;
  return private.apply_payment_intent(p_payment_intent);
end;
$$;
revoke all on function private.reconcile_payment_intent(jsonb, interval, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function private.reconcile_payment_intent(jsonb, interval, timestamp with time zone) to openparty_worker, service_role;

-- Tips without a PaymentIntent: create-tip may have created one at Stripe and
-- failed before storing it, and the payer may still pay it. With Stripe
-- configured, the worker claims them here (least recently checked first,
-- the check recorded), looks each up at Stripe by metadata.tip_id (Search
-- API) and hands the result to reconcile_unattached_tip; without Stripe,
-- cancel_unsubmitted_tips cancels them outright.
create function private.unattached_pending_tips(p_age interval, p_limit int, p_now timestamptz default now())
returns table (tip_id uuid)
language sql security definer
set search_path = ''
as $$
  with due as (
    select t.id from public.tips t
    where t.status = 'pending' and t.created_at < p_now - p_age and t.stripe_payment_intent_id is null
    order by t.reconciled_at nulls first, t.created_at
    limit p_limit
    for update skip locked
  )
  update public.tips t set reconciled_at = p_now
  from due where t.id = due.id
  returning t.id
$$;
revoke all on function private.unattached_pending_tips(interval, integer, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function private.unattached_pending_tips(interval, integer, timestamp with time zone) to openparty_worker, service_role;

-- What Stripe's search found for a tip without a PaymentIntent: nothing →
-- the tip never reached Stripe and is canceled; a PaymentIntent naming this
-- tip in its metadata with the tip's amount and currency → attached, then
-- reconciled as any other (it may be paid, failed, or abandoned).
create function private.reconcile_unattached_tip(p_tip_id uuid, p_payment_intent jsonb, p_abandon_after interval,
                                                 p_now timestamptz default now()) returns text
language plpgsql security definer
set search_path = ''
as $$
declare
  v_tip public.tips;
begin
  select * into v_tip from public.tips t where t.id = p_tip_id for update;
  if not found or v_tip.status <> 'pending' or v_tip.stripe_payment_intent_id is not null then
    return 'unchanged: no longer a pending tip without a payment intent';
  end if;
  if p_payment_intent is null or p_payment_intent = 'null'::jsonb then
    update public.tips t set status = 'canceled', failure_reason = 'never submitted to Stripe' where t.id = p_tip_id;
    return 'tip canceled: never submitted to Stripe';
  end if;
  if p_payment_intent -> 'metadata' ->> 'tip_id' is distinct from p_tip_id::text
     or p_payment_intent -> 'amount' is distinct from to_jsonb(v_tip.amount)
     or lower(p_payment_intent ->> 'currency') is distinct from v_tip.currency then
    return 'ignored: mismatch';
  end if;
  update public.tips t set stripe_payment_intent_id = p_payment_intent ->> 'id' where t.id = p_tip_id;
  return private.reconcile_payment_intent(p_payment_intent, p_abandon_after, p_now);
end;
$$;
revoke all on function private.reconcile_unattached_tip(uuid, jsonb, interval, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function private.reconcile_unattached_tip(uuid, jsonb, interval, timestamp with time zone) to openparty_worker, service_role;

------------------------------------------------------------------------------
-- What the app reads
------------------------------------------------------------------------------
-- Security invoker: earnings_entries_select shows a DJ only their own entries,
-- and the app may read only the columns summed here.
create function public.my_earnings() returns table (currency text, tips int, gross bigint, refunds bigint,
                                                    disputes bigint, net bigint)
language sql stable security invoker set search_path = ''
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
comment on function public.my_earnings() is 'Your earnings per currency, in minor units, net of the platform fee: tips, refunds and disputes (negative), net.';
revoke all on function public.my_earnings() from public, anon, authenticated, service_role;
grant execute on function public.my_earnings() to authenticated;
