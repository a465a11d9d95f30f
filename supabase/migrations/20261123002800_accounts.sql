-- Account lifecycle: deletion (app stores require it in the app) and export.
--
-- Deleting an account is a job in three steps, each recorded so a failed step
-- is retried and the job resumes where it stopped:
--   1. database (at once, in the request): the profile row is deleted, and
--      with it everything of the user's that cascades (follows, blocks,
--      messages, votes, sessions they hosted, tokens, preferences, tracks,
--      listening history rows ...). Money records are kept and anonymised:
--      tips keep amounts and states but lose the tipper / DJ (and the tipper's
--      message); the DJ ledger, payouts, invoices and artist statements lose
--      their owner. From
--      here on the user's still-valid token can do nothing: every write needs
--      the profile, every read of their own rows finds none.
--   2. storage (worker): the user's files in avatars, covers and tracks are
--      removed through the Storage API (direct deletes from storage tables are
--      refused by the platform).
--   3. auth (worker): the auth user is removed through the Auth admin API.
-- The job row keeps the user id (and the dates) as the record that the
-- deletion was asked for and carried out. Internal: RLS on, no policies.

create table private.account_deletions (
  user_id uuid primary key,
  requested_at timestamptz not null default now(),
  storage_removed_at timestamptz,
  files_removed int not null default 0,
  auth_user_removed_at timestamptz,
  completed_at timestamptz,
  attempts int not null default 0,
  last_error text,
  next_attempt_at timestamptz not null default now()
);
comment on table private.account_deletions is 'Account deletion jobs: the database step is done when the row exists; storage and auth steps are done when their *_at is set; completed_at when all are. A failed step records last_error and is retried at next_attempt_at (backoff). Internal: RLS on, no policies.';
create index account_deletions_due on private.account_deletions (next_attempt_at) where completed_at is null;
alter table private.account_deletions enable row level security;

-- Step 1, for DELETE /account. Idempotent: a second request returns the job.
create function private.request_account_deletion(p_user_id uuid) returns private.account_deletions
language plpgsql security definer
set search_path = ''
as $$
declare
  v_job private.account_deletions;
begin
  select * into v_job from private.account_deletions d where d.user_id = p_user_id;
  if found then
    return v_job;
  end if;
  if not exists (select 1 from public.profiles p where p.id = p_user_id) then
    raise exception using errcode = 'PT401', message = 'this account no longer exists';
  end if;
  -- A DJ's live (or scheduled) sessions end first, so their rooms hear session_ended.
  perform private.end_session(s.id, 'dj') from public.sessions s
  where s.dj_id = p_user_id and s.status in ('live', 'scheduled');
  update public.tips t set message = '' where t.tipper_id = p_user_id and t.message <> '';
  delete from public.profiles p where p.id = p_user_id;  -- cascades; money records are set null
  insert into private.account_deletions (user_id) values (p_user_id)
  on conflict (user_id) do nothing
  returning * into v_job;
  if not found then
    select * into v_job from private.account_deletions d where d.user_id = p_user_id;
  end if;
  return v_job;
end;
$$;
revoke all on function private.request_account_deletion(uuid) from public, anon, authenticated, service_role;
grant execute on function private.request_account_deletion(uuid) to openparty_edge, service_role;

-- The jobs with steps left whose time has come (the worker holds an advisory lock).
create function private.account_deletions_due(p_limit int, p_now timestamptz default now())
returns setof private.account_deletions
language sql stable security definer
set search_path = ''
as $$
  select * from private.account_deletions d
  where d.completed_at is null and d.next_attempt_at <= p_now
  order by d.next_attempt_at
  limit p_limit
$$;
revoke all on function private.account_deletions_due(integer, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function private.account_deletions_due(integer, timestamp with time zone) to openparty_worker, service_role;

-- The user's files still in our buckets: in their folder, or owned by them.
-- Security definer: the worker role cannot read storage.objects.
create function private.account_storage_objects(p_user_id uuid, p_limit int)
returns table (bucket_id text, name text)
language sql stable security definer
set search_path = ''
as $$
  select o.bucket_id, o.name from storage.objects o
  where o.bucket_id in ('avatars', 'covers', 'tracks')
    and (o.owner_id = p_user_id::text or (storage.foldername(o.name))[1] = p_user_id::text)
  order by o.bucket_id, o.name
  limit p_limit
$$;
revoke all on function private.account_storage_objects(uuid, integer) from public, anon, authenticated, service_role;
grant execute on function private.account_storage_objects(uuid, integer) to openparty_worker, service_role;

-- Record a step: 'storage' (p_files removed) or 'auth' (the job is complete),
-- or a failure of the step (p_error): retried after 1, 2, 4 ... minutes, at most an hour.
create function private.record_account_deletion_step(p_user_id uuid, p_step text, p_error text default null,
                                                     p_files int default 0)
returns private.account_deletions
language plpgsql security definer
set search_path = ''
as $$
declare
  v_job private.account_deletions;
begin
  if p_step not in ('storage', 'auth') then
    raise exception 'unknown account deletion step %', p_step;
  end if;
  if p_error is not null then
    update private.account_deletions d
    set attempts = d.attempts + 1, last_error = left(format('%s: %s', p_step, p_error), 2000),
        next_attempt_at = now() + least(interval '1 minute' * power(2, d.attempts), interval '1 hour')
    where d.user_id = p_user_id
    returning * into v_job;
  elsif p_step = 'storage' then
    update private.account_deletions d
    set storage_removed_at = coalesce(d.storage_removed_at, now()), files_removed = d.files_removed + p_files,
        last_error = null
    where d.user_id = p_user_id
    returning * into v_job;
  else
    update private.account_deletions d
    set auth_user_removed_at = coalesce(d.auth_user_removed_at, now()), completed_at = coalesce(d.completed_at, now()),
        last_error = null
    where d.user_id = p_user_id and d.storage_removed_at is not null
    returning * into v_job;
  end if;
  if not found then
    raise exception 'no account deletion job for % ready for step %', p_user_id, p_step;
  end if;
  return v_job;
end;
$$;
revoke all on function private.record_account_deletion_step(uuid, text, text, integer) from public, anon, authenticated, service_role;
grant execute on function private.record_account_deletion_step(uuid, text, text, integer) to openparty_worker, service_role;

------------------------------------------------------------------------------
-- Export: everything we hold about the user, as one JSON document
------------------------------------------------------------------------------
create function private.export_account(p_user_id uuid) returns jsonb
language plpgsql stable security definer
set search_path = ''
as $$
declare
  v_profile public.profiles;
begin
  select * into v_profile from public.profiles p where p.id = p_user_id;
  if not found then
    raise exception using errcode = 'PT401', message = 'this account no longer exists';
  end if;
  return jsonb_build_object(
    'format', 'openparty-export-1',
    'exported_at', now(),
    'user_id', p_user_id,
    'account', (select jsonb_build_object('email', u.email, 'phone', u.phone, 'created_at', u.created_at,
                                          'last_sign_in_at', u.last_sign_in_at)
                from auth.users u where u.id = p_user_id),
    'profile', to_jsonb(v_profile),
    'following', coalesce((select jsonb_agg(jsonb_build_object('user_id', f.followee_id, 'username', p.username,
                                                               'since', f.created_at) order by f.created_at)
                           from public.follows f join public.profiles p on p.id = f.followee_id
                           where f.follower_id = p_user_id), '[]'),
    'followers', coalesce((select jsonb_agg(jsonb_build_object('user_id', f.follower_id, 'username', p.username,
                                                               'since', f.created_at) order by f.created_at)
                           from public.follows f join public.profiles p on p.id = f.follower_id
                           where f.followee_id = p_user_id), '[]'),
    'blocks', coalesce((select jsonb_agg(jsonb_build_object('user_id', b.blocked_id, 'since', b.created_at)
                                         order by b.created_at)
                        from public.user_blocks b where b.blocker_id = p_user_id), '[]'),
    'messages', coalesce((select jsonb_agg(jsonb_build_object('id', m.id, 'session_id', m.session_id, 'kind', m.kind,
                                                              'body', m.body, 'created_at', m.created_at,
                                                              'deleted_at', m.deleted_at) order by m.id)
                          from public.messages m where m.sender_id = p_user_id), '[]'),
    'reports', coalesce((select jsonb_agg(to_jsonb(r) - 'reporter_id' order by r.created_at)
                         from public.reports r where r.reporter_id = p_user_id), '[]'),
    'tips_sent', coalesce((select jsonb_agg(to_jsonb(t) - 'stripe_account_id' - 'tipper_id' order by t.created_at)
                           from public.tips t where t.tipper_id = p_user_id), '[]'),
    'tips_received', coalesce((select jsonb_agg(to_jsonb(t) - 'stripe_account_id' - 'client_key' order by t.created_at)
                               from public.tips t where t.dj_id = p_user_id), '[]'),
    'subscriptions', coalesce((select jsonb_agg(to_jsonb(e) - 'user_id' order by e.created_at)
                               from public.entitlements e where e.user_id = p_user_id), '[]'),
    'stripe_customer', (select c.stripe_customer_id from public.stripe_customers c where c.user_id = p_user_id),
    'payout_account', (select to_jsonb(a) - 'dj_id' from public.payout_accounts a where a.dj_id = p_user_id),
    'artist_statements', coalesce((select jsonb_agg(to_jsonb(s) - 'artist_id' order by s.month)
                                   from public.artist_statements s where s.artist_id = p_user_id), '[]'),
    'tracks', coalesce((select jsonb_agg(to_jsonb(t) - 'artist_id' order by t.created_at)
                        from public.tracks t where t.artist_id = p_user_id), '[]'),
    'sessions_hosted', coalesce((select jsonb_agg(jsonb_build_object('id', s.id, 'title', s.title, 'status', s.status,
                                                                     'started_at', s.started_at, 'ended_at', s.ended_at)
                                                  order by s.created_at)
                                 from public.sessions s where s.dj_id = p_user_id), '[]'),
    'sessions_joined', coalesce((select jsonb_agg(jsonb_build_object('session_id', sp.session_id,
                                                                     'joined_at', sp.joined_at, 'left_at', sp.left_at)
                                                  order by sp.joined_at)
                                 from public.session_participants sp where sp.user_id = p_user_id), '[]'),
    'songs_added', coalesce((select jsonb_agg(jsonb_build_object('session_id', q.session_id, 'title', q.title,
                                                                 'artist', q.artist, 'provider', q.provider,
                                                                 'provider_ref', q.provider_ref, 'status', q.status,
                                                                 'added_at', q.added_at) order by q.added_at)
                             from public.queue_items q where q.added_by = p_user_id), '[]'),
    'votes', coalesce((select jsonb_agg(jsonb_build_object('item_id', v.item_id, 'value', v.value,
                                                           'created_at', v.created_at) order by v.created_at)
                       from public.queue_votes v where v.user_id = p_user_id), '[]'),
    'listening_history', coalesce((select jsonb_agg(jsonb_build_object('session_id', p.session_id, 'title', p.title,
                                                                       'artist', p.artist, 'provider', p.provider,
                                                                       'provider_ref', p.provider_ref,
                                                                       'started_at', p.started_at,
                                                                       'ms_listened', l.ms_listened,
                                                                       'is_stream', l.is_stream) order by p.started_at)
                                   from public.play_listeners l join public.plays p on p.id = l.play_id
                                   where l.user_id = p_user_id), '[]'),
    'invoices', coalesce((select jsonb_agg(to_jsonb(i) - 'user_id' order by i.invoice_created_at)
                          from public.invoices i where i.user_id = p_user_id), '[]'),
    'payouts', coalesce((select jsonb_agg(to_jsonb(o) - 'dj_id' order by o.payout_created_at)
                         from public.payouts o where o.dj_id = p_user_id), '[]'),
    'saved_songs', coalesce((select jsonb_agg(jsonb_build_object('title', s.title, 'artist', s.artist,
                                                                 'provider', s.provider, 'provider_ref', s.provider_ref,
                                                                 'heard_at', s.session_title, 'played_by', s.dj_username,
                                                                 'saved_at', s.saved_at) order by s.saved_at)
                             from public.saved_songs s where s.user_id = p_user_id), '[]'),
    'playlists', coalesce((select jsonb_agg(jsonb_build_object(
                             'name', l.name, 'is_public', l.is_public, 'created_at', l.created_at,
                             'songs', coalesce((select jsonb_agg(jsonb_build_object('title', s.title, 'artist', s.artist)
                                                                 order by i.position)
                                                from public.playlist_items i
                                                join public.saved_songs s on s.id = i.saved_song_id
                                                where i.playlist_id = l.id), '[]')) order by l.created_at)
                           from public.playlists l where l.owner_id = p_user_id), '[]'),
    'session_likes', coalesce((select jsonb_agg(jsonb_build_object('session_id', k.session_id, 'at', k.created_at)
                                                order by k.created_at)
                               from public.session_likes k where k.user_id = p_user_id), '[]'),
    'battle_votes', coalesce((select jsonb_agg(jsonb_build_object('battle_id', v.battle_id, 'round', v.round,
                                                                  'dj_id', v.dj_id, 'at', v.created_at)
                                               order by v.created_at)
                              from public.battle_votes v where v.user_id = p_user_id), '[]'),
    'badges', coalesce((select jsonb_agg(jsonb_build_object('badge', b.badge_id, 'earned_at', b.earned_at)
                                         order by b.earned_at)
                        from public.user_badges b where b.user_id = p_user_id), '[]'),
    'push_tokens', coalesce((select jsonb_agg(jsonb_build_object('token', d.token, 'platform', d.platform,
                                                                 'enabled', d.enabled, 'created_at', d.created_at)
                                              order by d.created_at)
                             from public.push_tokens d where d.user_id = p_user_id), '[]'),
    'notification_preferences', (select to_jsonb(n) - 'user_id' from public.notification_preferences n
                                 where n.user_id = p_user_id),
    'files', coalesce((select jsonb_agg(jsonb_build_object('bucket', o.bucket_id, 'name', o.name) order by o.bucket_id, o.name)
                       from private.account_storage_objects(p_user_id, 10000) o), '[]')
  );
end;
$$;
revoke all on function private.export_account(uuid) from public, anon, authenticated, service_role;
grant execute on function private.export_account(uuid) to openparty_edge, service_role;
