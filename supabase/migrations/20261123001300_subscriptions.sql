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

-- A user's Stripe invoices (web subscriptions), kept from invoice.* events so
-- the app can show what was billed and paid.
create table public.invoices (
  id text primary key,
  -- A money record: kept when the user deletes their account, without its owner.
  user_id uuid references public.profiles (id) on delete set null,
  stripe_customer_id text not null,
  subscription_id text,
  number text,
  status text not null,
  currency text not null,
  total bigint not null,
  amount_due bigint not null,
  amount_paid bigint not null,
  amount_remaining bigint not null,
  period_start timestamptz,
  period_end timestamptz,
  payment_failed boolean not null default false,
  attempt_count int not null default 0,
  next_payment_attempt timestamptz,
  paid_at timestamptz,
  hosted_invoice_url text,
  invoice_pdf text,
  invoice_created_at timestamptz not null,
  last_event_at timestamptz not null,
  updated_at timestamptz not null default now()
);
comment on table public.invoices is 'A user''s Stripe invoices and their payment state (from invoice.* events of their own customer). Readable by the user.';
comment on column public.invoices.status is 'Stripe''s: draft → open → paid / void / uncollectible; never moves back';
comment on column public.invoices.payment_failed is 'the last payment attempt failed (invoice.payment_failed); cleared when the invoice is paid';
comment on column public.invoices.period_end is 'end of the period the invoice''s lines bill (for a subscription invoice: the period it pays for)';
create index invoices_user on public.invoices (user_id, invoice_created_at desc);
create index invoices_subscription on public.invoices (subscription_id) where subscription_id is not null;
revoke all on public.invoices from anon, authenticated, service_role;
grant select on public.invoices to authenticated, service_role;
alter table public.invoices enable row level security;

create trigger invoices_set_updated_at
before update on public.invoices
for each row execute function private.set_updated_at();

-- The subscription of an invoice, in either API-version shape: before
-- 2025-03-31 (basil) `invoice.subscription`, after it
-- `invoice.parent.subscription_details.subscription`. An expanded object
-- counts by its id.
create function private.invoice_subscription_id(p_invoice jsonb) returns text
language sql immutable
set search_path = ''
as $$
  select coalesce(p_invoice -> 'parent' -> 'subscription_details' -> 'subscription' ->> 'id',
                  p_invoice -> 'parent' -> 'subscription_details' ->> 'subscription',
                  p_invoice -> 'subscription' ->> 'id',
                  p_invoice ->> 'subscription')
$$;
revoke all on function private.invoice_subscription_id(jsonb) from public, anon, authenticated, service_role;

-- The plan a subscription sells: the highest-ranked plan among its items'
-- prices (p_prices maps Stripe price ids to plans, from the settings: a plan
-- switch in the customer portal changes the price, not our metadata); our
-- metadata.plan_id only when no item's price is mapped.
create function private.subscription_plan(p_subscription jsonb, p_prices jsonb) returns text
language sql stable
set search_path = ''
as $$
  select coalesce(
    (select pl.id from jsonb_array_elements(p_subscription -> 'items' -> 'data') as i
     join public.plans pl on pl.id = coalesce(p_prices, '{}'::jsonb) ->> coalesce(i -> 'price' ->> 'id', i ->> 'price')
     order by pl.rank desc limit 1),
    (select pl.id from public.plans pl where pl.id = p_subscription -> 'metadata' ->> 'plan_id'))
$$;
revoke all on function private.subscription_plan(jsonb, jsonb) from public, anon, authenticated, service_role;

-- Web subscriptions (Stripe Checkout)
-- Statuses that grant access until the current period ends: active, trialing,
-- past_due (Stripe is still retrying payment). The rest grant nothing:
-- incomplete, incomplete_expired, unpaid, canceled, paused. The period end
-- is read in both API-version shapes (items.data[].current_period_end since
-- basil, current_period_end before), and a paid invoice already kept for the
-- subscription (invoice.paid may arrive first) extends it. A subscription of
-- a customer we did not create, without our metadata, is ignored.
create function private.apply_subscription(p_subscription jsonb, p_event_at timestamptz, p_prices jsonb) returns text
language plpgsql
set search_path = ''
as $$
declare
  v_user_id uuid;
  v_plan_id text := private.subscription_plan(p_subscription, p_prices);
  v_period_end timestamptz;
begin
  v_user_id := coalesce(
    (select c.user_id from public.stripe_customers c where c.stripe_customer_id = p_subscription ->> 'customer'),
    (select p.id from public.profiles p where p.id::text = p_subscription -> 'metadata' ->> 'user_id'));
  if v_user_id is null then
    return 'ignored: not a customer of ours';
  end if;
  if v_plan_id is null then
    return 'ignored: no plan for this subscription''s prices';
  end if;
  select to_timestamp(greatest(max((i ->> 'current_period_end')::bigint),
                               (p_subscription ->> 'current_period_end')::bigint))
  into v_period_end
  from jsonb_array_elements(p_subscription -> 'items' -> 'data') as i;
  v_period_end := greatest(v_period_end,
    (select max(v.period_end) from public.invoices v
     where v.subscription_id = p_subscription ->> 'id' and v.status = 'paid'));

  insert into public.entitlements as e (user_id, source, source_ref, plan_id, active, expires_at, will_renew,
                                        billing_issue, last_event_at)
  values (v_user_id, 'stripe', p_subscription ->> 'id', v_plan_id,
          p_subscription ->> 'status' in ('active', 'trialing', 'past_due'), v_period_end,
          not coalesce((p_subscription ->> 'cancel_at_period_end')::boolean, false),
          (p_subscription ->> 'status') = 'past_due', p_event_at)
  on conflict (source, source_ref) do update
    set plan_id = excluded.plan_id, active = excluded.active,
        expires_at = excluded.expires_at,
        will_renew = excluded.will_renew, billing_issue = excluded.billing_issue,
        last_event_at = excluded.last_event_at
    where e.last_event_at <= excluded.last_event_at;
  return format('subscription %s', p_subscription ->> 'status');
end;
$$;
revoke all on function private.apply_subscription(jsonb, timestamp with time zone, jsonb) from public, anon, authenticated, service_role;

-- invoice.* events: the invoice is kept for its user (an invoice of a
-- customer or subscription we did not create: ignored), then invoice.paid extends the subscription's grant to the
-- end of the paid period and invoice.payment_failed flags a billing issue
-- (the subscription's own status decides access). An invoice that arrives
-- before its subscription is kept, and the subscription reads it when it
-- lands (nothing to retry).
create function private.apply_invoice(p_invoice jsonb, p_event_type text, p_event_at timestamptz) returns text
language plpgsql
set search_path = ''
as $$
declare
  v_user_id uuid;
  v_subscription_id text := private.invoice_subscription_id(p_invoice);
  v_paid boolean := p_event_type in ('invoice.paid', 'invoice.payment_succeeded');
  v_failed boolean := p_event_type = 'invoice.payment_failed';
  v_period_start timestamptz;
  v_period_end timestamptz;
  v_status text := p_invoice ->> 'status';
begin
  if p_invoice ->> 'id' is null then
    return 'ignored: an invoice preview (no id)';
  end if;
  -- Our customer, else the user of the subscription's entitlement, else the
  -- user our checkout put in the subscription's metadata (basil shape).
  v_user_id := coalesce(
    (select c.user_id from public.stripe_customers c where c.stripe_customer_id = p_invoice ->> 'customer'),
    (select e.user_id from public.entitlements e where e.source = 'stripe' and e.source_ref = v_subscription_id),
    (select p.id from public.profiles p
     where p.id::text = p_invoice -> 'parent' -> 'subscription_details' -> 'metadata' ->> 'user_id'));
  if v_user_id is null then
    return 'ignored: not a customer of ours';
  end if;
  select to_timestamp(min((l -> 'period' ->> 'start')::bigint)), to_timestamp(max((l -> 'period' ->> 'end')::bigint))
  into v_period_start, v_period_end
  from jsonb_array_elements(p_invoice -> 'lines' -> 'data') as l;

  -- Kept when it carries what every Stripe invoice has (a hand-made or
  -- truncated object still moves the entitlement below, never a 500).
  insert into public.invoices as v (id, user_id, stripe_customer_id, subscription_id, number, status, currency,
                                    total, amount_due, amount_paid, amount_remaining, period_start, period_end,
                                    payment_failed, attempt_count, next_payment_attempt, paid_at,
                                    hosted_invoice_url, invoice_pdf, invoice_created_at, last_event_at)
  select p_invoice ->> 'id', v_user_id, p_invoice ->> 'customer', v_subscription_id, p_invoice ->> 'number', v_status,
          lower(p_invoice ->> 'currency'), coalesce((p_invoice ->> 'total')::bigint, 0),
          coalesce((p_invoice ->> 'amount_due')::bigint, 0), coalesce((p_invoice ->> 'amount_paid')::bigint, 0),
          coalesce((p_invoice ->> 'amount_remaining')::bigint, 0), v_period_start, v_period_end,
          v_failed, coalesce((p_invoice ->> 'attempt_count')::int, 0),
          to_timestamp((p_invoice ->> 'next_payment_attempt')::bigint),
          to_timestamp((p_invoice -> 'status_transitions' ->> 'paid_at')::bigint),
          p_invoice ->> 'hosted_invoice_url', p_invoice ->> 'invoice_pdf',
          to_timestamp((p_invoice ->> 'created')::bigint), p_event_at
  where v_status is not null and p_invoice ->> 'currency' is not null and p_invoice ->> 'created' is not null
  on conflict (id) do update
    set status = excluded.status, number = excluded.number, total = excluded.total, amount_due = excluded.amount_due,
        amount_paid = excluded.amount_paid, amount_remaining = excluded.amount_remaining,
        period_start = excluded.period_start, period_end = excluded.period_end,
        payment_failed = excluded.payment_failed and excluded.status <> 'paid',
        attempt_count = excluded.attempt_count, next_payment_attempt = excluded.next_payment_attempt,
        paid_at = excluded.paid_at, hosted_invoice_url = excluded.hosted_invoice_url,
        invoice_pdf = excluded.invoice_pdf, last_event_at = excluded.last_event_at
    -- newer events win; a settled invoice (paid / void / uncollectible) never reopens
    where v.last_event_at <= excluded.last_event_at
      and not (v.status in ('paid', 'void', 'uncollectible') and excluded.status in ('draft', 'open'));

  if v_subscription_id is null or not (v_paid or v_failed) then
    return format('invoice %s', v_status);
  end if;
  if v_paid then
    update public.entitlements e
    set expires_at = greatest(e.expires_at, v_period_end), billing_issue = false
    where e.source = 'stripe' and e.source_ref = v_subscription_id and e.user_id = v_user_id;
  else
    update public.entitlements e set billing_issue = true
    where e.source = 'stripe' and e.source_ref = v_subscription_id and e.user_id = v_user_id;
  end if;
  if not found then
    return format('invoice %s kept: no entitlement for subscription %s (yet)', v_status, v_subscription_id);
  end if;
  return case when v_paid then 'invoice paid' else 'invoice payment failed' end;
end;
$$;
revoke all on function private.apply_invoice(jsonb, text, timestamp with time zone) from public, anon, authenticated, service_role;

------------------------------------------------------------------------------
-- App-store subscriptions (RevenueCat)
------------------------------------------------------------------------------

-- RevenueCat events
-- Fields RevenueCat documents as arrays that may be null or absent
-- (entitlement_ids, aliases, transferred_from / _to): their strings, or none.
create function private.revenuecat_ids(p_value jsonb) returns text[]
language sql immutable
set search_path = ''
as $$
  select case when jsonb_typeof(p_value) = 'array'
              then array(select t from jsonb_array_elements_text(p_value) as t where t is not null)
              else '{}'::text[] end
$$;
revoke all on function private.revenuecat_ids(jsonb) from public, anon, authenticated, service_role;

-- The user of an event: the first of app_user_id, original_app_user_id and
-- aliases that is one of our user ids (the app logs in to RevenueCat with it).
create function private.revenuecat_user(p_event jsonb) returns uuid
language sql stable
set search_path = ''
as $$
  select p.id
  from (select p_event ->> 'app_user_id' as candidate, 0 as preference
        union all select p_event ->> 'original_app_user_id', 1
        union all select a, 2 from unnest(private.revenuecat_ids(p_event -> 'aliases')) as a) c
  join public.profiles p on p.id::text = c.candidate
  order by c.preference
  limit 1
$$;
revoke all on function private.revenuecat_user(jsonb) from public, anon, authenticated, service_role;

-- Grant types: INITIAL_PURCHASE, RENEWAL, NON_RENEWING_PURCHASE,
-- SUBSCRIPTION_EXTENDED, TEMPORARY_ENTITLEMENT_GRANT, REFUND_REVERSED,
-- UNCANCELLATION, PRODUCT_CHANGE. CANCELLATION keeps access until the
-- expiration it carries; a refund (cancel_reason CUSTOMER_SUPPORT) without one
-- (a non-renewing or lifetime purchase) ends access at once. EXPIRATION
-- revokes; BILLING_ISSUE and SUBSCRIPTION_PAUSED only flag; TRANSFER moves
-- the grants. A purchase made before login (every id an anonymous
-- $RCAnonymousID:...) is held under that id (user_id null) until a TRANSFER
-- or a later event names one of our users. An event with nothing to grant
-- (entitlement_ids null or no plan among them) is recorded and answered 200.
-- Events older than what an entitlement has seen change nothing.
create function private.apply_revenuecat(p_event jsonb, p_event_at timestamptz, p_environment text) returns text
language plpgsql
set search_path = ''
as $$
declare
  v_event jsonb := p_event;
  v_type text := p_event ->> 'type';
  v_event_at timestamptz := p_event_at;
  -- TEMPORARY_ENTITLEMENT_GRANT's published sample has no environment;
  -- VIRTUAL_CURRENCY_TRANSACTION names it purchase_environment.
  v_environment text := coalesce(p_event ->> 'environment', p_event ->> 'purchase_environment');
  v_user_id uuid;
  v_holder text;
  v_plan_id text;
  v_expires timestamptz;
  v_refs text[];
  v_ref text;
  v_from text[];
  v_to_ids text[];
  v_to_user uuid;
  v_count int;
  v_outcome text;
begin
  if jsonb_typeof(v_event -> 'expiration_at_ms') = 'number' then
    v_expires := to_timestamp((v_event ->> 'expiration_at_ms')::numeric / 1000.0);
  end if;
  -- An entitlement is keyed by the original transaction; events that name
  -- only a transaction (TEMPORARY_ENTITLEMENT_GRANT, the EXPIRATION that
  -- undoes it) match on either.
  v_refs := array_remove(array[v_event ->> 'original_transaction_id', v_event ->> 'transaction_id'], null);
  v_ref := coalesce(v_refs[1], v_event ->> 'id');

  if v_environment is distinct from p_environment and v_environment is not null then
    v_outcome := format('ignored: %s event, this deployment takes %s', v_environment, p_environment);
  elsif v_type = 'TRANSFER' then
    -- Ownership only: no state moves, so no last_event_at guard (the
    -- published sample's event_timestamp_ms is in the year 4466).
    v_from := private.revenuecat_ids(v_event -> 'transferred_from');
    v_to_ids := private.revenuecat_ids(v_event -> 'transferred_to');
    select p.id into v_to_user from unnest(v_to_ids) as t join public.profiles p on p.id::text = t limit 1;
    if cardinality(v_to_ids) = 0 then
      v_outcome := 'ignored: transfer to nobody';
    else
      update public.entitlements e
      set user_id = v_to_user, app_user_id = coalesce(v_to_user::text, v_to_ids[1])
      where e.source = 'revenuecat'
        and (e.user_id::text = any (v_from) or (e.user_id is null and e.app_user_id = any (v_from)));
      get diagnostics v_count = row_count;
      v_outcome := format('transferred %s to %s', v_count, coalesce(v_to_user::text, 'an anonymous id'));
    end if;
  else
    v_user_id := private.revenuecat_user(v_event);
    if v_user_id is null
       and coalesce(v_event ->> 'app_user_id', v_event ->> 'original_app_user_id') like '$RCAnonymousID:%'
       and not exists (select 1 from unnest(private.revenuecat_ids(v_event -> 'aliases')) a
                       where a not like '$RCAnonymousID:%') then
      v_holder := coalesce(v_event ->> 'app_user_id', v_event ->> 'original_app_user_id');
    end if;
    select p.id into v_plan_id from public.plans p
    where p.id = any (private.revenuecat_ids(v_event -> 'entitlement_ids'))
    order by p.rank desc limit 1;
    if v_type = 'TEMPORARY_ENTITLEMENT_GRANT' then
      -- Sent during store outages; RevenueCat documents it as lasting at most 24 hours.
      v_expires := least(coalesce(v_expires, v_event_at + interval '24 hours'), v_event_at + interval '24 hours');
      v_ref := coalesce(v_event ->> 'transaction_id', v_event ->> 'id');
    end if;
    if v_type in ('INITIAL_PURCHASE', 'RENEWAL', 'NON_RENEWING_PURCHASE', 'SUBSCRIPTION_EXTENDED',
                  'TEMPORARY_ENTITLEMENT_GRANT', 'REFUND_REVERSED', 'UNCANCELLATION', 'PRODUCT_CHANGE') then
      if v_user_id is null and v_holder is null then
        v_outcome := 'ignored: no user for this event';
      elsif v_plan_id is null then
        v_outcome := 'ignored: no entitlement maps to a plan';
      else
        insert into public.entitlements as e (user_id, app_user_id, source, source_ref, plan_id, active, expires_at,
                                              will_renew, environment, last_event_at)
        values (v_user_id, coalesce(v_event ->> 'app_user_id', v_holder), 'revenuecat', v_ref, v_plan_id, true,
                v_expires, v_type not in ('NON_RENEWING_PURCHASE', 'TEMPORARY_ENTITLEMENT_GRANT'),
                coalesce(v_environment, p_environment), v_event_at)
        on conflict (source, source_ref) do update
          set user_id = coalesce(excluded.user_id, e.user_id), app_user_id = excluded.app_user_id,
              plan_id = excluded.plan_id, active = true, expires_at = excluded.expires_at,
              will_renew = excluded.will_renew, billing_issue = false, last_event_at = excluded.last_event_at
          where e.last_event_at <= excluded.last_event_at;
        v_outcome := case when v_user_id is null then format('held %s for %s until login', v_plan_id, v_holder)
                          else format('granted %s', v_plan_id) end;
      end if;
    elsif v_type = 'CANCELLATION' then
      update public.entitlements e
      set will_renew = false,
          expires_at = case when v_expires is not null then v_expires
                            when v_event ->> 'cancel_reason' = 'CUSTOMER_SUPPORT' then v_event_at
                            else e.expires_at end,
          last_event_at = v_event_at
      where e.source = 'revenuecat' and e.source_ref = any (v_refs) and e.last_event_at <= v_event_at;
      v_outcome := case when v_event ->> 'cancel_reason' = 'CUSTOMER_SUPPORT' and v_expires is null
                        then 'refunded: access ended' else 'canceled: access until expiry' end;
    elsif v_type = 'EXPIRATION' then
      update public.entitlements e set active = false, will_renew = false,
                                       expires_at = coalesce(v_expires, v_event_at), last_event_at = v_event_at
      where e.source = 'revenuecat' and e.source_ref = any (v_refs) and e.last_event_at <= v_event_at;
      v_outcome := 'expired';
    elsif v_type in ('BILLING_ISSUE', 'SUBSCRIPTION_PAUSED') then
      update public.entitlements e set billing_issue = (v_type = 'BILLING_ISSUE'), last_event_at = v_event_at
      where e.source = 'revenuecat' and e.source_ref = any (v_refs) and e.last_event_at <= v_event_at;
      v_outcome := format('%s noted: access unchanged', lower(v_type));
    else
      v_outcome := 'ignored: unhandled type';
    end if;
  end if;

  return v_outcome;
end;
$$;
revoke all on function private.apply_revenuecat(jsonb, timestamptz, text) from public, anon, authenticated, service_role;
