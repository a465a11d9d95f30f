-- Payouts to artists. A monthly run takes a pool (a configured share of the
-- month's subscription revenue) and splits it among the artists whose catalog
-- tracks were streamed (a listener heard 30 s: plays.sql), two ways:
--   pro rata:     each artist's share of all streams of the month;
--   user-centric: each subscriber's revenue follows what that subscriber
--                 streamed; revenue of subscribers who streamed no catalog
--                 track (and revenue we cannot tie to a user) is split pro rata.
-- Both are computed and kept on the artist's statement; the run's model (a
-- setting) decides which one is paid. Amounts are exact to the minor unit by
-- the largest remainder method (private.apportion): each artist gets the
-- floor of their exact share, and the units left over go one each to the
-- largest fractional parts (ties: lower artist id first), so each model's
-- amounts always sum to the pool. The pool itself is floor(revenue * share).
-- A statement below the minimum payout, or of an artist without an enabled
-- Stripe connected account, is carried over into the artist's next statement.
-- A month is run once: running it again returns the same run and changes
-- nothing. Payable statements are paid by Stripe Connect transfers, one per
-- statement, with an idempotency key derived from the statement (worker).
-- Policies: supabase/policies/artist_payouts.sql.

------------------------------------------------------------------------------
-- Revenue: what subscribers paid in a month, from the verified provider events
------------------------------------------------------------------------------
-- Stripe: invoice.paid (amount_paid, in the invoice's currency), the user by
-- the Stripe customer. RevenueCat: INITIAL_PURCHASE, RENEWAL and
-- NON_RENEWING_PURCHASE of the production environment; `price` is in USD (as
-- RevenueCat documents it), `price_in_purchased_currency` in `currency`; both
-- are decimal major units, converted to minor units for two-decimal currencies.
-- Refunds are not deducted (a refunded month's revenue stays in that month's
-- pool). Rows with a null user are revenue we cannot attribute to a listener.
create function private.subscription_revenue(p_from timestamptz, p_to timestamptz, p_currency text)
returns table (user_id uuid, amount bigint)
language sql stable
set search_path = ''
as $$
  with paid as (
    select c.user_id, (e.payload -> 'data' -> 'object' ->> 'amount_paid')::bigint as amount
    from private.webhook_events e
    left join public.stripe_customers c on c.stripe_customer_id = e.payload -> 'data' -> 'object' ->> 'customer'
    where e.provider = 'stripe' and e.type = 'invoice.paid' and e.processed_at is not null
      and e.event_at >= p_from and e.event_at < p_to
      and lower(e.payload -> 'data' -> 'object' ->> 'currency') = p_currency
    union all
    select private.revenuecat_user(e.payload),
           round(100 * case when p_currency = 'usd' then (e.payload ->> 'price')::numeric
                            else (e.payload ->> 'price_in_purchased_currency')::numeric end)::bigint
    from private.webhook_events e
    where e.provider = 'revenuecat' and e.processed_at is not null
      and e.type in ('INITIAL_PURCHASE', 'RENEWAL', 'NON_RENEWING_PURCHASE')
      and e.payload ->> 'environment' is distinct from 'SANDBOX'
      and e.event_at >= p_from and e.event_at < p_to
      and (p_currency = 'usd' or lower(e.payload ->> 'currency') = p_currency)
  )
  select paid.user_id, sum(paid.amount)::bigint from paid where paid.amount > 0 group by paid.user_id
$$;
revoke all on function private.subscription_revenue(timestamp with time zone, timestamp with time zone, text) from public, anon, authenticated, service_role;

-- Largest remainder: p_total split in proportion to p_weights, in whole units,
-- summing exactly to p_total (when some weight is positive). Exact shares are
-- computed in decimal to 40 places; each key gets the floor of its share, then
-- the leftover units go one each to the largest fractional parts, ties to the
-- lower key. Keys with no positive weight get nothing (and no row).
create function private.apportion(p_total bigint, p_keys uuid[], p_weights numeric[])
returns table (key uuid, amount bigint)
language sql immutable
set search_path = ''
as $$
  with w as (
    select u.k, round(u.wt, 40) as wt from unnest(p_keys, p_weights) as u(k, wt) where u.wt > 0
  ), exact as (
    select w.k, round(p_total::numeric * w.wt / (select sum(x.wt) from w x), 40) as share from w
  ), floored as (
    select e.k, floor(e.share)::bigint as f, e.share - floor(e.share) as r from exact e
  ), ranked as (
    select f.k, f.f, row_number() over (order by f.r desc, f.k) as rn from floored f
  )
  select r.k, r.f + case when r.rn <= p_total - (select coalesce(sum(x.f), 0) from floored x) then 1 else 0 end
  from ranked r
$$;
revoke all on function private.apportion(bigint, uuid[], numeric[]) from public, anon, authenticated, service_role;

------------------------------------------------------------------------------
-- Runs and statements
------------------------------------------------------------------------------
create table private.artist_payout_runs (
  month date primary key constraint artist_payout_runs_first_day check (extract(day from month) = 1),
  currency text not null constraint artist_payout_runs_currency check (currency ~ '^[a-z]{3}$'),
  share_bps int not null constraint artist_payout_runs_share check (share_bps between 0 and 10000),
  model text not null constraint artist_payout_runs_model check (model in ('pro_rata', 'user_centric')),
  min_payout bigint not null constraint artist_payout_runs_min check (min_payout >= 0),
  revenue bigint not null,
  pool bigint not null,
  streams bigint not null,
  distributed bigint not null,
  created_at timestamptz not null default now()
);
comment on table private.artist_payout_runs is 'One row per month paid out: the parameters used (fixed once run), the revenue, the pool and the streams. distributed = pool, or 0 when nothing was streamed. Internal: RLS on, no policies.';
alter table private.artist_payout_runs enable row level security;

create type public.artist_statement_status as enum ('carried_over', 'pending', 'sending', 'paid', 'failed');
comment on type public.artist_statement_status is 'carried_over: below the minimum payout or no payout account yet, added to the next statement; pending: to be transferred; sending: a transfer request is (or was) in flight; paid: transferred (stripe_transfer_id); failed: Stripe refused the transfer for good (last_error)';

create table public.artist_statements (
  id uuid primary key default gen_random_uuid(),
  month date not null references private.artist_payout_runs (month),
  artist_id uuid references public.profiles (id) on delete set null,
  currency text not null,
  streams bigint not null default 0,
  pro_rata_amount bigint not null default 0,
  user_centric_amount bigint not null default 0,
  model text not null,
  earned bigint not null,
  carried_in bigint not null default 0,
  payable bigint generated always as (earned + carried_in) stored,
  status public.artist_statement_status not null,
  carried_to uuid references public.artist_statements (id),
  stripe_transfer_id text unique,
  transfer_attempts int not null default 0,
  sending_at timestamptz,
  last_error text,
  paid_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (month, artist_id)
);
comment on table public.artist_statements is 'One statement per artist per month: streams, both models'' amounts, the amount earned under the run''s model, what was carried in from earlier statements, and the transfer. Money record: kept, anonymised, when the artist deletes the account. Readable by the artist.';
comment on column public.artist_statements.earned is 'the amount of the run''s model (pro_rata_amount or user_centric_amount), minor units';
comment on column public.artist_statements.carried_to is 'the later statement this one''s payable was carried into';
create index artist_statements_artist on public.artist_statements (artist_id, month desc);
create index artist_statements_due on public.artist_statements (status, sending_at) where status in ('pending', 'sending');
create index artist_statements_carried on public.artist_statements (artist_id) where status = 'carried_over' and carried_to is null;
create index artist_statements_carried_to on public.artist_statements (carried_to);
revoke all on public.artist_statements from anon, authenticated, service_role;
grant select on public.artist_statements to authenticated, service_role;
alter table public.artist_statements enable row level security;

create trigger artist_statements_set_updated_at
before update on public.artist_statements
for each row execute function private.set_updated_at();

-- Run month p_month (any day of it; a month that has ended). The first call
-- decides: later calls return the stored run whatever parameters they pass.
create function private.run_artist_payouts(p_month date, p_currency text, p_share_bps int, p_model text,
                                           p_min_payout bigint)
returns private.artist_payout_runs
language plpgsql security definer
set search_path = ''
as $$
declare
  v_month date := date_trunc('month', p_month)::date;
  v_from timestamptz := date_trunc('month', p_month)::timestamptz;
  v_to timestamptz := (date_trunc('month', p_month) + interval '1 month')::timestamptz;
  v_run private.artist_payout_runs;
  v_revenue bigint;
  v_pool bigint;
  v_streams bigint;
begin
  if p_model not in ('pro_rata', 'user_centric') then
    raise exception using errcode = 'PT422', message = 'model is pro_rata or user_centric';
  end if;
  if v_to > now() then
    raise exception using errcode = 'PT409', message = format('%s has not ended yet', to_char(v_month, 'YYYY-MM'));
  end if;
  perform pg_advisory_xact_lock(hashtext('private.run_artist_payouts'));  -- one run at a time
  select * into v_run from private.artist_payout_runs r where r.month = v_month;
  if found then
    return v_run;  -- already run: nothing changes
  end if;

  create temporary table if not exists pg_temp.payout_streams (user_id uuid, artist_id uuid, streams bigint) on commit drop;
  truncate pg_temp.payout_streams;
  insert into pg_temp.payout_streams
  select l.user_id, t.artist_id, count(*)
  from public.plays p
  join public.tracks t on t.id = p.track_id
  join public.play_listeners l on l.play_id = p.id and l.is_stream
  where p.started_at >= v_from and p.started_at < v_to and p.ended_at is not null
  group by l.user_id, t.artist_id;

  create temporary table if not exists pg_temp.payout_revenue (user_id uuid, amount bigint) on commit drop;
  truncate pg_temp.payout_revenue;
  insert into pg_temp.payout_revenue select * from private.subscription_revenue(v_from, v_to, p_currency);

  select coalesce(sum(r.amount), 0) into v_revenue from pg_temp.payout_revenue r;
  select coalesce(sum(s.streams), 0) into v_streams from pg_temp.payout_streams s;
  v_pool := (v_revenue * p_share_bps) / 10000;  -- floor: the platform keeps the fraction of a unit

  insert into private.artist_payout_runs (month, currency, share_bps, model, min_payout, revenue, pool, streams,
                                          distributed)
  values (v_month, p_currency, p_share_bps, p_model, p_min_payout, v_revenue, v_pool, v_streams,
          case when v_streams > 0 then v_pool else 0 end)
  returning * into v_run;

  -- Both models, per artist.
  create temporary table if not exists pg_temp.payout_amounts (artist_id uuid, streams bigint, pro_rata bigint,
                                                               user_centric bigint) on commit drop;
  truncate pg_temp.payout_amounts;
  with per_artist as (
    select s.artist_id, sum(s.streams) as streams from pg_temp.payout_streams s group by s.artist_id
  ), listener_totals as (
    select s.user_id, sum(s.streams) as streams from pg_temp.payout_streams s where s.user_id is not null
    group by s.user_id
  ), heard as (  -- subscribers who streamed: their revenue follows their streams
    select r.user_id, r.amount from pg_temp.payout_revenue r join listener_totals t on t.user_id = r.user_id
  ), followed as (  -- each subscriber's revenue split by their own streams
    select s.artist_id, sum(round(h.amount::numeric * s.streams, 40) / t.streams) as weight
    from heard h
    join listener_totals t on t.user_id = h.user_id
    join pg_temp.payout_streams s on s.user_id = h.user_id
    group by s.artist_id
  ), user_centric_weights as (  -- plus the rest of the revenue, pro rata
    select a.artist_id,
           coalesce(f.weight, 0)
           + round((v_revenue - (select coalesce(sum(h.amount), 0) from heard h))::numeric * a.streams, 40)
             / nullif(v_streams, 0) as weight
    from per_artist a left join followed f on f.artist_id = a.artist_id
  )
  insert into pg_temp.payout_amounts
  select a.artist_id, a.streams, coalesce(pr.amount, 0), coalesce(uc.amount, 0)
  from per_artist a
  left join private.apportion(v_pool, (select array_agg(x.artist_id) from per_artist x),
                              (select array_agg(x.streams::numeric) from per_artist x)) pr on pr.key = a.artist_id
  left join private.apportion(v_pool, (select array_agg(x.artist_id) from user_centric_weights x),
                              (select array_agg(x.weight) from user_centric_weights x)) uc on uc.key = a.artist_id;

  -- One statement per artist who was streamed or has a balance carried over.
  with balances as (
    select s.artist_id, sum(s.earned + s.carried_in) as carried_in, array_agg(s.id) as ids
    from public.artist_statements s
    where s.status = 'carried_over' and s.carried_to is null and s.artist_id is not null and s.currency = p_currency
    group by s.artist_id
  ), artists as (
    select coalesce(a.artist_id, b.artist_id) as artist_id, coalesce(a.streams, 0) as streams,
           coalesce(a.pro_rata, 0) as pro_rata, coalesce(a.user_centric, 0) as user_centric,
           coalesce(b.carried_in, 0) as carried_in, b.ids
    from pg_temp.payout_amounts a full join balances b on b.artist_id = a.artist_id
  ), inserted as (
    insert into public.artist_statements (month, artist_id, currency, streams, pro_rata_amount, user_centric_amount,
                                          model, earned, carried_in, status)
    select v_month, x.artist_id, p_currency, x.streams, x.pro_rata, x.user_centric, p_model,
           case p_model when 'pro_rata' then x.pro_rata else x.user_centric end, x.carried_in,
           case when (case p_model when 'pro_rata' then x.pro_rata else x.user_centric end) + x.carried_in
                       >= greatest(p_min_payout, 1)
                     and exists (select 1 from public.payout_accounts pa where pa.dj_id = x.artist_id and pa.payouts_enabled)
                then 'pending' else 'carried_over' end::public.artist_statement_status
    from artists x
    returning id, artist_id
  )
  update public.artist_statements s set carried_to = i.id
  from inserted i join artists x on x.artist_id = i.artist_id
  where s.id = any (x.ids);

  return v_run;
end;
$$;
revoke all on function private.run_artist_payouts(date, text, integer, text, bigint) from public, anon, authenticated, service_role;
grant execute on function private.run_artist_payouts(date, text, integer, text, bigint) to openparty_worker, service_role;

------------------------------------------------------------------------------
-- Transfers (worker): claim, send with the statement's idempotency key, record
------------------------------------------------------------------------------
-- Pending statements, and statements left 'sending' longer than p_lease (a
-- worker died between asking Stripe and recording the answer: the retry uses
-- the same idempotency key, so Stripe returns the transfer it made, if any).
create function private.claim_artist_transfers(p_limit int, p_lease interval, p_now timestamptz default now())
returns table (statement_id uuid, month date, artist_id uuid, amount bigint, currency text, destination text)
language sql security definer
set search_path = ''
as $$
  with due as (
    select s.id from public.artist_statements s
    where s.status = 'pending' or (s.status = 'sending' and s.sending_at < p_now - p_lease)
    order by s.created_at
    limit p_limit
    for update skip locked
  ), claimed as (
    update public.artist_statements s
    set status = 'sending', sending_at = p_now, transfer_attempts = s.transfer_attempts + 1
    from due where s.id = due.id
    returning s.*
  )
  select c.id, c.month, c.artist_id, c.payable, c.currency, a.stripe_account_id
  from claimed c left join public.payout_accounts a on a.dj_id = c.artist_id
$$;
revoke all on function private.claim_artist_transfers(integer, interval, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function private.claim_artist_transfers(integer, interval, timestamp with time zone) to openparty_worker, service_role;

-- The answer for one statement: a transfer id (paid), or an error, retried
-- (pending again) unless p_permanent (failed, for people to look at).
create function private.record_artist_transfer(p_statement_id uuid, p_transfer_id text, p_error text,
                                               p_permanent boolean default false)
returns public.artist_statement_status
language sql security definer
set search_path = ''
as $$
  update public.artist_statements s
  set status = case when p_transfer_id is not null then 'paid'
                    when p_permanent then 'failed' else 'pending' end::public.artist_statement_status,
      stripe_transfer_id = coalesce(p_transfer_id, s.stripe_transfer_id),
      paid_at = case when p_transfer_id is not null then coalesce(s.paid_at, now()) end,
      last_error = case when p_transfer_id is null then left(p_error, 2000) end
  where s.id = p_statement_id and s.status = 'sending'
  returning s.status
$$;
revoke all on function private.record_artist_transfer(uuid, text, text, boolean) from public, anon, authenticated, service_role;
grant execute on function private.record_artist_transfer(uuid, text, text, boolean) to openparty_worker, service_role;
