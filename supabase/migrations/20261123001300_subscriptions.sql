-- Subscriptions: web plans through Stripe Checkout and app-store plans through
-- RevenueCat, both landing in public.entitlements (profiles_plans.sql). Each
-- function here applies one provider object; webhook_events.sql routes events
-- to them.

create table public.stripe_customers (
  user_id uuid primary key references public.profiles (id) on delete cascade,
  stripe_customer_id text not null unique,
  created_at timestamptz not null default now()
);
comment on table public.stripe_customers is 'The Stripe customer of a user (web subscriptions). Readable by the user.';
revoke all on public.stripe_customers from anon, authenticated, service_role;
grant select on public.stripe_customers to authenticated, service_role;
alter table public.stripe_customers enable row level security;

-- The user's Stripe customer, if any. A token outlives its user (deleted
-- users' JWTs stay valid until they expire): no customer is made for a user
-- who no longer exists (PT401).
create function private.stripe_customer_of(p_user_id uuid) returns text
language plpgsql stable security definer
set search_path = ''
as $$
begin
  if not exists (select 1 from auth.users u join public.profiles p on p.id = u.id  -- no profile: deletion under way
                 where u.id = p_user_id and u.deleted_at is null) then
    raise exception using errcode = 'PT401', message = 'this account no longer exists';
  end if;
  return (select c.stripe_customer_id from public.stripe_customers c where c.user_id = p_user_id);
end;
$$;
revoke all on function private.stripe_customer_of(uuid) from public, anon, authenticated, service_role;
grant execute on function private.stripe_customer_of(uuid) to openparty_edge, service_role;

create function private.attach_stripe_customer(p_user_id uuid, p_customer_id text) returns text
language sql security definer
set search_path = ''
as $$
  insert into public.stripe_customers (user_id, stripe_customer_id) values (p_user_id, p_customer_id)
  on conflict (user_id) do update set user_id = excluded.user_id
  returning stripe_customer_id
$$;
revoke all on function private.attach_stripe_customer(uuid, text) from public, anon, authenticated, service_role;
grant execute on function private.attach_stripe_customer(uuid, text) to openparty_edge, service_role;

------------------------------------------------------------------------------
-- Web subscriptions (Stripe Checkout)
------------------------------------------------------------------------------

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
revoke all on function private.apply_checkout_session(jsonb) from public, anon, authenticated, service_role;

-- Web subscriptions (Stripe Checkout)
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
revoke all on function private.apply_subscription(jsonb, timestamp with time zone) from public, anon, authenticated, service_role;

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
revoke all on function private.apply_invoice(jsonb, boolean) from public, anon, authenticated, service_role;

------------------------------------------------------------------------------
-- App-store subscriptions (RevenueCat)
------------------------------------------------------------------------------

-- RevenueCat events
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
revoke all on function private.revenuecat_user(jsonb) from public, anon, authenticated, service_role;

-- Grant types: INITIAL_PURCHASE, RENEWAL, NON_RENEWING_PURCHASE,
-- SUBSCRIPTION_EXTENDED, TEMPORARY_ENTITLEMENT_GRANT, REFUND_REVERSED,
-- UNCANCELLATION, PRODUCT_CHANGE. CANCELLATION keeps access until the
-- expiration it carries (a refund carries one in the past); EXPIRATION
-- revokes; BILLING_ISSUE and SUBSCRIPTION_PAUSED only flag; TRANSFER moves
-- the grants. Events older than what an entitlement has seen change nothing.
create function private.apply_revenuecat(p_event jsonb, p_event_at timestamptz, p_environment text) returns text
language plpgsql
set search_path = ''
as $$
declare
  v_event jsonb := p_event;
  v_type text := p_event ->> 'type';
  v_event_at timestamptz := p_event_at;
  v_user_id uuid;
  v_plan_id text;
  v_expires timestamptz;
  v_ref text;
  v_outcome text;
begin
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

  return v_outcome;
end;
$$;
revoke all on function private.apply_revenuecat(jsonb, timestamptz, text) from public, anon, authenticated, service_role;
