-- sessions: anyone sees every session (live, scheduled, and past ones for DJ
-- history); the DJ creates and edits their own: settings, and (the lifecycle
-- RPCs write it as the DJ) status, heartbeat and pause, which
-- sessions_guard_transitions moves only forward and stamps itself.
drop policy if exists sessions_select on public.sessions;
create policy sessions_select on public.sessions
  for select to anon, authenticated
  using (true);

drop policy if exists sessions_insert on public.sessions;
create policy sessions_insert on public.sessions
  for insert to authenticated
  with check (dj_id = (select auth.uid()));

drop policy if exists sessions_update on public.sessions;
create policy sessions_update on public.sessions
  for update to authenticated
  using (dj_id = (select auth.uid()))
  with check (dj_id = (select auth.uid()));

-- private.room_access: each user reads their own standing in rooms, nobody
-- else's. The room helpers (private.my_session_ids and co.) run as the caller
-- and read it; this policy reads no other table, so no policy recurses.
drop policy if exists room_access_select on private.room_access;
create policy room_access_select on private.room_access
  for select to authenticated
  using (user_id = (select auth.uid()));

-- session_participants: you see your own rows, and the list of a session you
-- are in, host or moderate. Joins and leaves are participation_requests; the
-- one write of your own is the heartbeat of your present row (last_seen_at
-- only, by column grant; stamped now() by session_participants_stamp_seen).
drop policy if exists session_participants_select on public.session_participants;
create policy session_participants_select on public.session_participants
  for select to authenticated
  using (user_id = (select auth.uid()) or session_id in (select private.my_session_ids()));

drop policy if exists session_participants_update on public.session_participants;
create policy session_participants_update on public.session_participants
  for update to authenticated
  using (user_id = (select auth.uid()) and left_at is null)
  with check (user_id = (select auth.uid()));

-- participation_requests: you ask to join or leave for yourself only; the
-- table's trigger applies the rules (live, not the DJ, banned, blocked,
-- capacity) and removes the request, so there is never a row to see but
-- the one your insert returns.
drop policy if exists participation_requests_select on public.participation_requests;
create policy participation_requests_select on public.participation_requests
  for select to authenticated
  using (user_id = (select auth.uid()));

drop policy if exists participation_requests_insert on public.participation_requests;
create policy participation_requests_insert on public.participation_requests
  for insert to authenticated
  with check (user_id = (select auth.uid()));

-- session_moderators: visible to the room; only its DJ appoints and removes.
drop policy if exists session_moderators_select on public.session_moderators;
create policy session_moderators_select on public.session_moderators
  for select to authenticated
  using (session_id in (select private.my_session_ids()));

drop policy if exists session_moderators_insert on public.session_moderators;
create policy session_moderators_insert on public.session_moderators
  for insert to authenticated
  with check (session_id in (select private.my_hosted_session_ids()));

drop policy if exists session_moderators_delete on public.session_moderators;
create policy session_moderators_delete on public.session_moderators
  for delete to authenticated
  using (session_id in (select private.my_hosted_session_ids()));

-- session_sanctions: the sanctioned user sees their own; the DJ and moderators
-- see the session's. Written only by the moderation functions.
drop policy if exists session_sanctions_select on public.session_sanctions;
create policy session_sanctions_select on public.session_sanctions
  for select to authenticated
  using (user_id = (select auth.uid()) or session_id in (select private.my_moderated_session_ids()));
