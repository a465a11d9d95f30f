-- What the cleanup and reconciliation workers call. Every function works in a
-- bounded batch, skips rows another replica holds, takes its clock as a
-- parameter (tests move it), and returns how many rows it handled.

-- Live sessions where nothing happened (no chat, no join, no track start) for
-- p_idle, and live at least that long: the DJ's app is probably still pinging
-- from a pocket. Reason 'abandoned'.
create function private.end_abandoned_sessions(p_idle interval, p_limit int, p_now timestamptz default now())
returns int
language sql security definer
set search_path = ''
as $$
  select private.end_sessions(array(
    select s.id from public.sessions s
    where s.status = 'live' and s.started_at < p_now - p_idle
      and not exists (select 1 from public.messages m where m.session_id = s.id and m.created_at >= p_now - p_idle)
      and not exists (select 1 from public.session_participants p
                      where p.session_id = s.id and p.joined_at >= p_now - p_idle)
      and not exists (select 1 from public.queue_items q where q.session_id = s.id and q.started_at >= p_now - p_idle)
    order by s.started_at
    limit p_limit
    for update skip locked), 'abandoned')
$$;

-- Scheduled sessions whose time is long past: reason 'never_started'.
create function private.end_stale_scheduled_sessions(p_grace interval, p_limit int, p_now timestamptz default now())
returns int
language sql security definer
set search_path = ''
as $$
  select private.end_sessions(array(
    select s.id from public.sessions s
    where s.status = 'scheduled' and s.scheduled_for < p_now - p_grace
    order by s.scheduled_for
    limit p_limit
    for update skip locked), 'never_started')
$$;

-- Listeners whose app stopped pinging: close their participation, counts kept.
create function private.close_idle_participations(p_idle interval, p_limit int, p_now timestamptz default now())
returns int
language plpgsql security definer
set search_path = ''
as $$
declare
  v_session_id uuid;
  v_user_id uuid;
  v_count int := 0;
begin
  for v_session_id, v_user_id in
    select p.session_id, p.user_id from public.session_participants p
    where p.left_at is null and p.last_seen_at < p_now - p_idle
    order by p.session_id
    limit p_limit
  loop
    -- The session lock first, as every change of listeners takes it.
    perform 1 from public.sessions s where s.id = v_session_id for update skip locked;
    continue when not found;
    if private.close_participation(v_session_id, v_user_id) then
      v_count := v_count + 1;
    end if;
  end loop;
  return v_count;
end;
$$;

-- Retention: settled notifications and their deliveries after p_age.
create function private.purge_notifications(p_age interval, p_limit int, p_now timestamptz default now())
returns int
language sql security definer
set search_path = ''
as $$
  with old as (
    select o.id from private.notification_outbox o
    where o.finished_at < p_now - p_age
    order by o.finished_at
    limit p_limit
    for update skip locked
  ), gone as (
    delete from private.notification_outbox o using old where o.id = old.id returning 1
  )
  select count(*)::int from gone
$$;

-- Reconciliation: tips still pending after p_age. Those with a PaymentIntent
-- are checked against Stripe by the worker; those without one never reached
-- Stripe (the app gave up) and are canceled here.
create function private.stale_pending_tips(p_age interval, p_limit int, p_now timestamptz default now())
returns table (tip_id uuid, payment_intent_id text)
language sql stable security definer
set search_path = ''
as $$
  select t.id, t.stripe_payment_intent_id from public.tips t
  where t.status = 'pending' and t.created_at < p_now - p_age and t.stripe_payment_intent_id is not null
  order by t.created_at
  limit p_limit
$$;

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

-- A PaymentIntent fetched from Stripe, applied exactly as its webhook would be.
create function private.reconcile_payment_intent(p_payment_intent jsonb) returns text
language sql security definer
set search_path = ''
as $$ select private.apply_payment_intent(p_payment_intent) $$;

-- Bookkeeping: entitlements past their end are marked inactive. (Access never
-- depended on this: the effective plan checks expires_at at read time.)
create function private.expire_entitlements(p_limit int, p_now timestamptz default now())
returns int
language sql security definer
set search_path = ''
as $$
  with expired as (
    select e.id from public.entitlements e
    where e.active and e.expires_at < p_now
    limit p_limit
    for update skip locked
  ), updated as (
    update public.entitlements e set active = false from expired where e.id = expired.id returning 1
  )
  select count(*)::int from updated
$$;

revoke all on function
  private.end_abandoned_sessions(interval, int, timestamptz), private.end_stale_scheduled_sessions(interval, int, timestamptz),
  private.close_idle_participations(interval, int, timestamptz), private.purge_notifications(interval, int, timestamptz),
  private.stale_pending_tips(interval, int, timestamptz), private.cancel_unsubmitted_tips(interval, int, timestamptz),
  private.reconcile_payment_intent(jsonb), private.expire_entitlements(int, timestamptz)
from public;
grant execute on function
  private.end_abandoned_sessions(interval, int, timestamptz), private.end_stale_scheduled_sessions(interval, int, timestamptz),
  private.close_idle_participations(interval, int, timestamptz), private.purge_notifications(interval, int, timestamptz),
  private.stale_pending_tips(interval, int, timestamptz), private.cancel_unsubmitted_tips(interval, int, timestamptz),
  private.reconcile_payment_intent(jsonb), private.expire_entitlements(int, timestamptz)
to openparty_worker, service_role;
