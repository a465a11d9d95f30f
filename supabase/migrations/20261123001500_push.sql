-- Push notifications: devices, preferences, the outbox filled by triggers in
-- the same transaction as the event, and per-device deliveries the workers
-- claim, send to Expo and settle.

------------------------------------------------------------------------------
-- Devices and preferences
------------------------------------------------------------------------------
create table public.push_tokens (
  id bigint generated always as identity primary key,
  user_id uuid not null references public.profiles (id) on delete cascade,
  token text not null unique
    constraint push_tokens_format check (token ~ '^(ExponentPushToken|ExpoPushToken)\[[^\]]+\]$'),
  platform text not null check (platform in ('ios', 'android', 'web')),
  device_id text check (char_length(device_id) <= 200),
  enabled boolean not null default true,
  disabled_reason text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.push_tokens is 'Expo push tokens. A token belongs to one user at a time: registering it on another account moves it. Expo''s DeviceNotRegistered disables it.';
create index push_tokens_user on public.push_tokens (user_id) where enabled;
create index push_tokens_user_fk on public.push_tokens (user_id);
revoke all on public.push_tokens from anon, authenticated, service_role;
grant select, delete on public.push_tokens to authenticated;
-- authenticated: registering a device is an insert of its token (policy push_tokens_insert; the triggers
-- below stamp the owner, move a known token and keep the device cap), as rpc/register_push_token does.
grant insert (token, platform, device_id) on public.push_tokens to authenticated;
grant select, insert, update, delete on public.push_tokens to service_role;
alter table public.push_tokens enable row level security;

create trigger push_tokens_set_updated_at
before update on public.push_tokens
for each row execute function private.set_updated_at();

-- A token belongs to one user at a time: inserting a known token moves it to
-- the caller (from another account, or their own disabled row) and re-enables
-- it, instead of inserting. Security definer: the row may be another user's.
-- No rule is skipped by acting before the insert policy: the owner is stamped
-- from auth.uid() here, which is exactly what push_tokens_insert checks.
create function private.push_tokens_before_insert() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  new.user_id := coalesce((select auth.uid()), new.user_id);
  new.token := btrim(new.token);
  update public.push_tokens t
  set user_id = new.user_id, platform = new.platform, device_id = new.device_id, enabled = true, disabled_reason = null
  where t.token = new.token;
  if found then
    return null;  -- moved (or re-registered): nothing to insert
  end if;
  return new;
end;
$$;
revoke all on function private.push_tokens_before_insert() from public, anon, authenticated, service_role;

create trigger push_tokens_before_insert
before insert on public.push_tokens
for each row execute function private.push_tokens_before_insert();

-- At most this many enabled devices per user: every notification is one send
-- per enabled device against the project's Expo budget (600/s). A device
-- (re-)enabled for a user beyond the cap disables their least recently
-- registered (disabled_reason 'device_limit'); re-registering a device (the
-- app does at each start) makes it the most recent. Disabled rows are kept,
-- not deleted, so deliveries already recorded for them keep their history.
-- Exact under concurrency: one user's cap is counted by one transaction at a
-- time (an advisory lock keyed by the user, taken after the insert policy
-- passed), each count a fresh snapshot that sees the registrations committed
-- before it.
create function private.push_tokens_enforce_device_cap() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  c_max_devices constant int := 10;
begin
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('openparty.push_tokens:' || new.user_id, 0));
  update public.push_tokens t set enabled = false, disabled_reason = 'device_limit'
  where t.id in (select x.id from public.push_tokens x
                 where x.user_id = new.user_id and x.enabled
                 order by x.updated_at desc, x.id desc
                 offset c_max_devices);
  return null;
end;
$$;
revoke all on function private.push_tokens_enforce_device_cap() from public, anon, authenticated, service_role;

create trigger push_tokens_enforce_device_cap
after insert or update of user_id, enabled on public.push_tokens
for each row when (new.enabled) execute function private.push_tokens_enforce_device_cap();

create table public.notification_preferences (
  user_id uuid primary key references public.profiles (id) on delete cascade,
  followed_dj_live boolean not null default true,
  session_starting boolean not null default true,
  tip_received boolean not null default true,
  song_up_next boolean not null default true,
  mentions boolean not null default true,
  moderation boolean not null default true,
  battles boolean not null default true,
  achievements boolean not null default true,
  quiet_hours_start time,
  quiet_hours_end time,
  time_zone text not null default 'UTC',
  updated_at timestamptz not null default now(),
  constraint notification_preferences_quiet_hours check ((quiet_hours_start is null) = (quiet_hours_end is null))
);
comment on table public.notification_preferences is 'Which notifications a user wants and their quiet hours (in their time zone). No row: everything on, no quiet hours.';
revoke all on public.notification_preferences from anon, authenticated, service_role;
grant select on public.notification_preferences to authenticated;

grant insert (followed_dj_live, session_starting, tip_received, song_up_next, mentions, moderation,
              battles, achievements, quiet_hours_start, quiet_hours_end, time_zone),
      update (followed_dj_live, session_starting, tip_received, song_up_next, mentions, moderation,
              battles, achievements, quiet_hours_start, quiet_hours_end, time_zone)
  on public.notification_preferences to authenticated;
grant select, insert, update, delete on public.notification_preferences to service_role;
alter table public.notification_preferences enable row level security;

create function private.notification_preferences_before_write() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.user_id := coalesce((select auth.uid()), new.user_id);
  new.updated_at := now();
  if not exists (select 1 from pg_catalog.pg_timezone_names z where z.name = new.time_zone) then
    raise exception using errcode = 'PT422', message = format('unknown time zone %s', new.time_zone);
  end if;
  return new;
end;
$$;
revoke all on function private.notification_preferences_before_write() from public, anon, authenticated, service_role;

create trigger notification_preferences_before_write
before insert or update on public.notification_preferences
for each row execute function private.notification_preferences_before_write();

-- Security invoker: an insert of the caller's token (the triggers above move
-- a known token and keep the cap), then the caller's row read back.
create function public.register_push_token(p_token text, p_platform text, p_device_id text default null)
returns public.push_tokens
language plpgsql security invoker
set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
  v_token public.push_tokens;
begin
  if v_uid is null then
    raise exception using errcode = 'PT401', message = 'sign in first';
  end if;
  for i in 1..2 loop
    -- on conflict: the same new token registered concurrently (by this or another account);
    -- the second pass moves it to the caller
    insert into public.push_tokens (token, platform, device_id) values (p_token, p_platform, p_device_id)
    on conflict (token) do nothing;
    select * into v_token from public.push_tokens t where t.token = btrim(p_token) and t.user_id = v_uid;
    exit when found;
  end loop;
  return v_token;
end;
$$;
comment on function public.register_push_token(text, text, text) is 'Register this device''s Expo push token for you (moves it from another account; re-enables it).';
revoke all on function public.register_push_token(text, text, text) from public, anon, authenticated, service_role;
grant execute on function public.register_push_token(text, text, text) to authenticated;

------------------------------------------------------------------------------
-- The outbox and deliveries (internal: RLS on, no policies)
------------------------------------------------------------------------------
create table private.notification_outbox (
  id bigint generated always as identity primary key,
  user_id uuid not null references public.profiles (id) on delete cascade,
  kind text not null check (kind in ('followed_dj_live', 'session_starting', 'tip_received', 'song_up_next',
                                     'mentions', 'moderation', 'battle_live', 'achievement_earned')),
  title text not null,
  body text not null,
  data jsonb not null default '{}',
  collapse_key text not null,
  status text not null default 'pending' check (status in ('pending', 'claimed', 'sent', 'failed', 'skipped')),
  not_before timestamptz not null default now(),
  attempts int not null default 0,
  lease_until timestamptz,
  leased_by text,
  last_error text,
  created_at timestamptz not null default now(),
  finished_at timestamptz
);
comment on table private.notification_outbox is 'Notifications to send, one row per user and event, written by triggers in the event''s transaction. Internal: RLS on, no policies.';
comment on column private.notification_outbox.status is 'pending: waiting (not_before, backoff); claimed: a worker holds the lease; sent: at least one device got it; failed: gave up (last_error says why); skipped: no enabled device';
comment on column private.notification_outbox.not_before is 'quiet hours and retry backoff push this forward; nothing is dropped for it';
create index notification_outbox_due on private.notification_outbox (not_before, id) where status = 'pending';
create index notification_outbox_leases on private.notification_outbox (lease_until) where status = 'claimed';
create index notification_outbox_collapse on private.notification_outbox (collapse_key, created_at);
create index notification_outbox_user on private.notification_outbox (user_id);
create index notification_outbox_finished on private.notification_outbox (finished_at) where finished_at is not null;
alter table private.notification_outbox enable row level security;

create table private.push_deliveries (
  id bigint generated always as identity primary key,
  outbox_id bigint not null references private.notification_outbox (id) on delete cascade,
  token_id bigint not null references public.push_tokens (id) on delete cascade,
  status text not null default 'queued'
    check (status in ('queued', 'sending', 'retry', 'sent', 'logged', 'failed', 'unknown')),
  ticket_id text,
  error text,
  receipt_status text check (receipt_status in ('ok', 'error', 'expired')),
  receipt_error text,
  sent_at timestamptz,
  receipt_checked_at timestamptz,
  created_at timestamptz not null default now(),
  unique (outbox_id, token_id)
);
comment on table private.push_deliveries is 'One notification to one device. Internal: RLS on, no policies.';
comment on column private.push_deliveries.status is 'queued / retry: to send; sending: handed to Expo; sent: Expo ticket ok; logged: no Expo access token configured, recorded only; failed: Expo refused it; unknown: the worker died while sending, so it is not sent again (no double send)';
create index push_deliveries_token on private.push_deliveries (token_id);
create index push_deliveries_receipts_due on private.push_deliveries (sent_at) where status = 'sent' and receipt_checked_at is null;
alter table private.push_deliveries enable row level security;

-- Enqueueing: preferences and blocks are honoured when the row is created;
-- quiet hours defer it (not_before) to when they end; a repeat of the same
-- collapse key to the same user within 10 minutes is dropped.
create function private.quiet_hours_end(p_prefs public.notification_preferences, p_at timestamptz)
returns timestamptz
language plpgsql stable
set search_path = ''
as $$
declare
  v_local timestamp := p_at at time zone p_prefs.time_zone;
  v_time time := v_local::time;
  v_end timestamp;
begin
  if p_prefs.quiet_hours_start is null then
    return p_at;
  end if;
  if p_prefs.quiet_hours_start <= p_prefs.quiet_hours_end then  -- same day, e.g. 13:00-15:00
    if v_time >= p_prefs.quiet_hours_start and v_time < p_prefs.quiet_hours_end then
      v_end := v_local::date + p_prefs.quiet_hours_end;
    end if;
  elsif v_time >= p_prefs.quiet_hours_start then  -- across midnight, e.g. 22:00-07:00, evening
    v_end := v_local::date + 1 + p_prefs.quiet_hours_end;
  elsif v_time < p_prefs.quiet_hours_end then  -- across midnight, morning
    v_end := v_local::date + p_prefs.quiet_hours_end;
  end if;
  return coalesce(v_end at time zone p_prefs.time_zone, p_at);
end;
$$;
comment on function private.quiet_hours_end(public.notification_preferences, timestamptz) is 'When a notification at p_at may go out: p_at, or the end of the user''s quiet hours.';
revoke all on function private.quiet_hours_end(public.notification_preferences, timestamp with time zone) from public, anon, authenticated, service_role;

-- Enqueue one kind of notification for a set of users, set-based. The users
-- to leave out (blocked either way with the actor, or notified with this
-- collapse key in the last 10 minutes) are computed once, not per user.
create function private.enqueue_notifications(p_user_ids uuid[], p_kind text, p_title text, p_body text,
                                              p_data jsonb, p_collapse_key text, p_actor uuid default null)
returns int
language plpgsql security definer
set search_path = ''
as $$
declare
  v_count int;
begin
  insert into private.notification_outbox (user_id, kind, title, body, data, collapse_key, not_before)
  select u.id, p_kind, p_title, p_body, p_data || jsonb_build_object('kind', p_kind), p_collapse_key,
         case when np.quiet_hours_start is null then now() else private.quiet_hours_end(np, now()) end
  from (select distinct unnest(p_user_ids) as id) u
  left join public.notification_preferences np on np.user_id = u.id
  where u.id is distinct from p_actor
    and coalesce(case p_kind
                   when 'followed_dj_live' then np.followed_dj_live
                   when 'session_starting' then np.session_starting
                   when 'tip_received' then np.tip_received
                   when 'song_up_next' then np.song_up_next
                   when 'mentions' then np.mentions
                   when 'moderation' then np.moderation
                   when 'battle_live' then np.battles
                   when 'achievement_earned' then np.achievements
                 end, true)
    and u.id not in (select b.blocked_id from public.user_blocks b where b.blocker_id = p_actor
                     union all
                     select b.blocker_id from public.user_blocks b where b.blocked_id = p_actor)
    and u.id not in (select o.user_id from private.notification_outbox o
                     where o.collapse_key = p_collapse_key and o.created_at > now() - interval '10 minutes');
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
revoke all on function private.enqueue_notifications(uuid[], text, text, text, jsonb, text, uuid) from public, anon, authenticated, service_role;

------------------------------------------------------------------------------
-- What enqueues: each event's trigger, in the event's transaction
------------------------------------------------------------------------------

-- A followed DJ goes live: every follower who wants it, in one statement.
create function private.sessions_notify_live() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_dj text;
begin
  select coalesce(p.display_name, p.username) into v_dj from public.profiles p where p.id = new.dj_id;
  perform private.enqueue_notifications(
    array(select f.follower_id from public.follows f where f.followee_id = new.dj_id),
    'followed_dj_live', format('%s is live', v_dj), new.title,
    jsonb_build_object('session_id', new.id, 'dj_id', new.dj_id), 'live:' || new.dj_id, new.dj_id);
  return null;
end;
$$;
revoke all on function private.sessions_notify_live() from public, anon, authenticated, service_role;

create trigger sessions_notify_live
after insert or update of status on public.sessions
for each row when (new.status = 'live') execute function private.sessions_notify_live();

create function private.enqueue_session_reminders(p_lead interval, p_limit int, p_now timestamptz default now())
returns int
language plpgsql security definer
set search_path = ''
as $$
declare
  v_session record;
  v_count int := 0;
begin
  for v_session in
    select s.id, s.dj_id, s.title, s.scheduled_for, coalesce(p.display_name, p.username) as dj_name
    from public.sessions s join public.profiles p on p.id = s.dj_id
    where s.status = 'scheduled' and s.reminder_sent_at is null
      and s.scheduled_for between p_now and p_now + p_lead
    order by s.scheduled_for
    limit p_limit
    for update of s skip locked
  loop
    v_count := v_count + private.enqueue_notifications(
      array(select f.follower_id from public.follows f where f.followee_id = v_session.dj_id),
      'session_starting', format('%s starts soon', v_session.dj_name), v_session.title,
      jsonb_build_object('session_id', v_session.id, 'scheduled_for', v_session.scheduled_for),
      'starting:' || v_session.id, v_session.dj_id);
    update public.sessions set reminder_sent_at = p_now where id = v_session.id;
  end loop;
  return v_count;
end;
$$;
revoke all on function private.enqueue_session_reminders(interval, integer, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function private.enqueue_session_reminders(interval, integer, timestamp with time zone) to openparty_worker, service_role;

-- A tip arrived.
create function private.tips_notify() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.enqueue_notifications(
    array[new.dj_id], 'tip_received', 'You got a tip',
    format('%s tipped you %s %s', (select p.username from public.profiles p where p.id = new.tipper_id),
           to_char(new.amount / 100.0, 'FM999990.00'), upper(new.currency)),
    jsonb_build_object('tip_id', new.id, 'session_id', new.session_id), 'tip:' || new.tipper_id, new.tipper_id);
  return null;
end;
$$;
revoke all on function private.tips_notify() from public, anon, authenticated, service_role;

create trigger tips_notify
after update of status on public.tips
for each row when (new.status = 'succeeded' and old.status is distinct from 'succeeded')
execute function private.tips_notify();

-- Your song is up next: whenever a song starts, the contributor of the song
-- now first in line hears about it.
create function private.queue_items_notify_up_next() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_next public.queue_items;
begin
  select q.* into v_next
  from private.queue_order(new.session_id) o join public.queue_items q on q.id = o.item_id
  order by o.play_rank
  limit 1;
  if v_next.added_by is not null then
    perform private.enqueue_notifications(
      array[v_next.added_by], 'song_up_next', 'Your song is up next', format('%s - %s', v_next.title, v_next.artist),
      jsonb_build_object('session_id', v_next.session_id, 'item_id', v_next.id), 'up_next:' || v_next.id,
      (select s.dj_id from public.sessions s where s.id = new.session_id));
  end if;
  return null;
end;
$$;
revoke all on function private.queue_items_notify_up_next() from public, anon, authenticated, service_role;

create trigger queue_items_notify_up_next
after update of status on public.queue_items
for each row when (new.status = 'playing') execute function private.queue_items_notify_up_next();

-- Mentions: @username in chat (up to 5 per message), to users who can read it.
create function private.messages_notify_mentions() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_sender text;
begin
  select p.username into v_sender from public.profiles p where p.id = new.sender_id;
  perform private.enqueue_notifications(
    array(select p.id
          from (select distinct lower(m[1]) as username
                from regexp_matches(new.body, '@([A-Za-z0-9_]{3,24})', 'g') as m limit 5) mentioned
          join public.profiles p on p.username = mentioned.username
          where exists (select 1 from public.session_participants sp
                        where sp.session_id = new.session_id and sp.user_id = p.id and sp.left_at is null)
             or exists (select 1 from public.sessions s where s.id = new.session_id and s.dj_id = p.id)),
    'mentions', format('%s mentioned you', v_sender), left(new.body, 200),
    jsonb_build_object('session_id', new.session_id, 'message_id', new.id),
    'mention:' || new.session_id || ':' || new.sender_id, new.sender_id);
  return null;
end;
$$;
revoke all on function private.messages_notify_mentions() from public, anon, authenticated, service_role;

create trigger messages_notify_mentions
after insert on public.messages
for each row when (new.kind = 'text' and strpos(new.body, '@') > 0)
execute function private.messages_notify_mentions();

-- Moderation: a timeout or ban.
create function private.session_sanctions_notify() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.enqueue_notifications(
    array[new.user_id], 'moderation',
    case new.kind when 'ban' then 'You were removed from a session' else 'You were timed out' end,
    coalesce(nullif(new.reason, ''), 'A moderator took action on your account in this session.'),
    jsonb_build_object('session_id', new.session_id, 'sanction', new.kind), 'sanction:' || new.session_id || ':' || new.kind,
    null);
  return null;
end;
$$;
revoke all on function private.session_sanctions_notify() from public, anon, authenticated, service_role;

create trigger session_sanctions_notify
after insert or update on public.session_sanctions
for each row execute function private.session_sanctions_notify();

------------------------------------------------------------------------------
-- Delivery guarantee per kind, when nobody can know whether Expo got a
-- request (the connection dropped after it was written, or the worker died
-- while it was in flight). At least once (sent again; a device may show it
-- twice): moderation (a sanction must be known; a repeat says the same) and
-- session_starting (a reminder the user asked for by following; missing it
-- defeats it). At most once (never resent; the notification records why):
-- followed_dj_live (fan-out to every follower: a repeat is spam to
-- thousands), tip_received (a repeat reads as a second tip: money must not
-- be misstated; the tip is in the app anyway), song_up_next (stale within a
-- minute, later than the backoff), mentions (chat is ephemeral). A request
-- known not to have reached Expo (connect or write failure, 429, 5xx, a page
-- that is not Expo's) is retried for every kind.
------------------------------------------------------------------------------
create function private.push_at_least_once(p_kind text) returns boolean
language sql immutable
set search_path = ''
as $$ select p_kind in ('moderation', 'session_starting') $$;
revoke all on function private.push_at_least_once(text) from public, anon, authenticated, service_role;

------------------------------------------------------------------------------
-- The dispatcher's verbs (granted to openparty_worker)
-- Claim due notifications under a lease, expand them to per-device deliveries,
-- and return what to send. Leases that expired with deliveries still 'queued'
-- or 'retry' are claimable again; deliveries left 'sending' by a dead worker
-- become 'unknown' and are never sent twice.
------------------------------------------------------------------------------
create function private.push_claim(p_worker text, p_limit int, p_lease interval)
returns table (delivery_id bigint, outbox_id bigint, token text, title text, body text, data jsonb,
               at_least_once boolean)
language plpgsql security definer
set search_path = ''
as $$
declare
  v_claimed bigint[];
begin
  update private.push_deliveries d
  set status = case when private.push_at_least_once(o.kind) then 'retry' else 'unknown' end,
      error = case when private.push_at_least_once(o.kind) then 'worker stopped while sending: resent (at least once)'
                   else 'worker stopped while sending' end
  from private.notification_outbox o
  where o.id = d.outbox_id and o.status = 'claimed' and o.lease_until < now() and d.status = 'sending';

  with due as (
    select o.id from private.notification_outbox o
    where (o.status = 'pending' and o.not_before <= now()) or (o.status = 'claimed' and o.lease_until < now())
    order by o.id
    limit p_limit
    for update skip locked
  ), claimed as (
    update private.notification_outbox o
    set status = 'claimed', lease_until = now() + p_lease, leased_by = p_worker, attempts = o.attempts + 1
    from due where o.id = due.id
    returning o.id
  )
  select coalesce(array_agg(claimed.id), '{}') into v_claimed from claimed;

  insert into private.push_deliveries (outbox_id, token_id)
  select o.id, t.id from private.notification_outbox o
  join public.push_tokens t on t.user_id = o.user_id and t.enabled
  where o.id = any (v_claimed)
  on conflict on constraint push_deliveries_outbox_id_token_id_key do nothing;

  return query
    select d.id, o.id, t.token, o.title, o.body, o.data, private.push_at_least_once(o.kind)
    from private.notification_outbox o
    join private.push_deliveries d on d.outbox_id = o.id
    join public.push_tokens t on t.id = d.token_id
    where o.id = any (v_claimed) and d.status in ('queued', 'retry') and t.enabled
    order by d.id;

  -- Claimed rows with nothing left to send settle now (no device, or all done).
  perform private.push_settle(v_claimed, null, null);
end;
$$;
revoke all on function private.push_claim(text, integer, interval) from public, anon, authenticated, service_role;
grant execute on function private.push_claim(text, integer, interval) to openparty_worker, service_role;

-- About to hand these to Expo.
create function private.push_mark_sending(p_delivery_ids bigint[]) returns void
language sql security definer
set search_path = ''
as $$ update private.push_deliveries d set status = 'sending' where d.id = any (p_delivery_ids) $$;
revoke all on function private.push_mark_sending(bigint[]) from public, anon, authenticated, service_role;
grant execute on function private.push_mark_sending(bigint[]) to openparty_worker, service_role;

-- Record what Expo answered, per delivery:
-- [{"delivery_id": 1, "outcome": "sent"|"retry"|"failed"|"logged"|"unknown"|"queued", "ticket_id": "...",
--   "error": "...", "disable_token": true}]
-- queued: not sent after all (dispatch paused); a new ticket clears the last receipt.
create function private.push_record(p_results jsonb) returns void
language sql security definer
set search_path = ''
as $$
  with r as (
    select * from jsonb_to_recordset(p_results)
      as x(delivery_id bigint, outcome text, ticket_id text, error text, disable_token boolean)
  ), updated as (
    update private.push_deliveries d
    set status = r.outcome, ticket_id = r.ticket_id, error = r.error,
        sent_at = case when r.outcome in ('sent', 'logged') then now() end,
        receipt_status = null, receipt_error = null, receipt_checked_at = null
    from r where d.id = r.delivery_id
    returning d.token_id, r.disable_token, r.error
  )
  update public.push_tokens t set enabled = false, disabled_reason = u.error
  from updated u where u.token_id = t.id and u.disable_token
$$;
revoke all on function private.push_record(jsonb) from public, anon, authenticated, service_role;
grant execute on function private.push_record(jsonb) to openparty_worker, service_role;

-- Settle claimed notifications. Nothing left to send: sent (some device got
-- it), failed, or skipped (no device). Something left: back to pending after
-- an exponential backoff (p_backoff * 2^(attempts-1)), or, once p_max_attempts
-- are spent, failed for what is left. p_max_attempts null: settle only the
-- finished ones and leave the rest claimed.
create function private.push_settle(p_outbox_ids bigint[], p_max_attempts int, p_backoff interval) returns void
language plpgsql security definer
set search_path = ''
as $$
declare
  v_row record;
begin
  for v_row in
    select o.id, o.attempts,
           count(d.id) as deliveries,
           count(d.id) filter (where d.status in ('sent', 'logged')) as delivered,
           count(d.id) filter (where d.status in ('queued', 'retry')) as unsent,
           string_agg(distinct d.error, '; ') as errors
    from private.notification_outbox o
    left join private.push_deliveries d on d.outbox_id = o.id
    where o.id = any (p_outbox_ids) and o.status = 'claimed'
    group by o.id, o.attempts
  loop
    if v_row.deliveries = 0 then
      update private.notification_outbox set status = 'skipped', last_error = 'no enabled device',
        lease_until = null, finished_at = now() where id = v_row.id;
    elsif v_row.unsent = 0 then
      update private.notification_outbox
      set status = case when v_row.delivered > 0 then 'sent' else 'failed' end, last_error = v_row.errors,
          lease_until = null, finished_at = now()
      where id = v_row.id;
    elsif p_max_attempts is null then
      continue;
    elsif v_row.attempts >= p_max_attempts then
      update private.push_deliveries set status = 'failed', error = coalesce(error, 'gave up')
      where outbox_id = v_row.id and status in ('queued', 'retry');
      update private.notification_outbox
      set status = case when v_row.delivered > 0 then 'sent' else 'failed' end,
          last_error = format('gave up after %s attempts: %s', v_row.attempts, v_row.errors),
          lease_until = null, finished_at = now()
      where id = v_row.id;
    else
      update private.notification_outbox
      set status = 'pending', not_before = now() + p_backoff * power(2, v_row.attempts - 1),
          last_error = v_row.errors, lease_until = null, leased_by = null
      where id = v_row.id;
    end if;
  end loop;
end;
$$;
revoke all on function private.push_settle(bigint[], integer, interval) from public, anon, authenticated, service_role;
grant execute on function private.push_settle(bigint[], integer, interval) to openparty_worker, service_role;

-- Graceful shutdown: give back a batch that was claimed but not sent.
create function private.push_release(p_worker text) returns int
language plpgsql security definer
set search_path = ''
as $$
declare
  v_count int;
begin
  update private.notification_outbox o
  set status = 'pending', lease_until = null, leased_by = null, attempts = greatest(o.attempts - 1, 0)
  where o.status = 'claimed' and o.leased_by = p_worker
    and not exists (select 1 from private.push_deliveries d where d.outbox_id = o.id and d.status = 'sending');
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
revoke all on function private.push_release(text) from public, anon, authenticated, service_role;
grant execute on function private.push_release(text) to openparty_worker, service_role;

-- Receipts: tickets old enough to have one, not checked yet.
create function private.push_receipts_due(p_min_age interval, p_limit int)
returns table (delivery_id bigint, ticket_id text, sent_at timestamptz)
language sql security definer
set search_path = ''
as $$
  select d.id, d.ticket_id, d.sent_at from private.push_deliveries d
  where d.status = 'sent' and d.receipt_checked_at is null and d.sent_at < now() - p_min_age
  order by d.sent_at
  limit p_limit
$$;
revoke all on function private.push_receipts_due(interval, integer) from public, anon, authenticated, service_role;
grant execute on function private.push_receipts_due(interval, integer) to openparty_worker, service_role;

-- [{"ticket_id": "...", "status": "ok"|"error"|"expired", "error": "...", "disable_token": true, "retry": true}]
-- What an error means is decided by the worker (workers/expo.py); this obeys
-- the flags. retry (MessageRateExceeded: Expo never handed it to the device):
-- the delivery is sent again after the notification's backoff
-- (p_backoff * 2^(attempts-1)), unless its p_max_attempts are spent (failed).
create function private.push_record_receipts(p_receipts jsonb, p_max_attempts int, p_backoff interval) returns int
language plpgsql security definer
set search_path = ''
as $$
declare
  v_count int;
begin
  with r as (
    select * from jsonb_to_recordset(p_receipts)
      as x(ticket_id text, status text, error text, disable_token boolean, retry boolean)
  ), updated as (
    update private.push_deliveries d
    set receipt_status = r.status, receipt_error = r.error, receipt_checked_at = now(),
        status = case when not coalesce(r.retry, false) then d.status
                      when o.attempts < p_max_attempts then 'retry' else 'failed' end,
        error = case when not coalesce(r.retry, false) then d.error
                     when o.attempts < p_max_attempts then 'receipt: ' || r.error
                     else format('gave up after %s attempts: receipt %s', o.attempts, r.error) end
    from r, private.notification_outbox o
    where d.ticket_id = r.ticket_id and d.status = 'sent' and d.receipt_checked_at is null and o.id = d.outbox_id
    returning d.id, d.token_id, d.outbox_id, d.status, r.error, r.disable_token
  ), disabled as (
    update public.push_tokens t set enabled = false, disabled_reason = u.error
    from updated u where u.token_id = t.id and u.disable_token
    returning 1
  ), reopened as (
    update private.notification_outbox o
    set status = 'pending', finished_at = null, lease_until = null, leased_by = null,
        not_before = now() + p_backoff * power(2, greatest(o.attempts - 1, 0)), last_error = 'receipt: ' || u.error
    from (select distinct on (outbox_id) outbox_id, error from updated where status = 'retry') u
    where o.id = u.outbox_id and o.status in ('sent', 'failed')
    returning 1
  ), gave_up as (  -- no other device got it: the notification failed after all
    update private.notification_outbox o set status = 'failed', last_error = u.error
    from (select distinct on (outbox_id) outbox_id, format('gave up after %s attempts: receipt %s', o2.attempts, error) as error
          from updated join private.notification_outbox o2 on o2.id = updated.outbox_id
          where updated.status = 'failed' and updated.error is not null) u
    where o.id = u.outbox_id and o.status = 'sent'
      and not exists (select 1 from private.push_deliveries d where d.outbox_id = o.id and d.status in ('sent', 'logged')
                      and d.id not in (select updated.id from updated))
    returning 1
  )
  select count(*)::int into v_count from updated;
  return v_count;
end;
$$;
revoke all on function private.push_record_receipts(jsonb, integer, interval) from public, anon, authenticated, service_role;
grant execute on function private.push_record_receipts(jsonb, integer, interval) to openparty_worker, service_role;

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
revoke all on function private.purge_notifications(interval, integer, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function private.purge_notifications(interval, integer, timestamp with time zone) to openparty_worker, service_role;
