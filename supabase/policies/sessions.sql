-- sessions: anyone sees every session (live, scheduled, and past ones for DJ
-- history); the DJ creates and edits their own; status moves only through RPC.
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
-- are in, host or moderate. Written only by the join/leave/end functions.
drop policy if exists session_participants_select on public.session_participants;
create policy session_participants_select on public.session_participants
  for select to authenticated
  using (user_id = (select auth.uid()) or session_id in (select private.my_session_ids()));

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
