-- Live channels: Realtime broadcast from the database on private topics,
-- session:<id> for a room and user:<id> for one person. Each area's triggers
-- send its own events (private.broadcast, helpers.sql); who may receive is
-- decided here and in policies/realtime.sql.

-- Who may receive on a topic: the user on user:<own id>; the DJ, moderators
-- and present participants on session:<id>; any signed-in user on discovery.
-- Security invoker: my_session_ids reads the caller's own rows of room_access.
create function private.can_receive_topic(p_topic text) returns boolean
language sql stable
set search_path = ''
as $$
  select case
    when p_topic is null or (select auth.uid()) is null then false
    when p_topic = 'user:' || (select auth.uid())::text then true
    when p_topic = 'discovery' then true  -- public news for browse screens (discovery.sql): DJs going live
    when p_topic ~ '^session:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
      then substr(p_topic, 9)::uuid in (select private.my_session_ids())
    else false
  end
$$;
revoke all on function private.can_receive_topic(text) from public, anon, authenticated, service_role;
-- authenticated: the realtime.messages policies call it.
grant execute on function private.can_receive_topic(text) to authenticated;
