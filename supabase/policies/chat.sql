-- messages: visible to the session's present participants, DJ and moderators;
-- never from users you blocked; deleted ones only to the DJ and moderators,
-- and to their sender when the sender deleted it (their own words; a message
-- a moderator removed stays hidden from its sender).
drop policy if exists messages_select on public.messages;
create policy messages_select on public.messages
  for select to authenticated
  using (
    session_id in (select private.my_session_ids())
    and (deleted_at is null
         or (deleted_by = (select auth.uid()) and sender_id = (select auth.uid()))
         or session_id in (select private.my_moderated_session_ids()))
    and (sender_id is null or sender_id not in (select private.my_blocked_ids()))
  );

-- Participants send text as themselves. Membership, sanctions, slow mode and
-- the rest are checked by the messages_enforce_rules_and_broadcast trigger, which
-- answers each refusal with its own error.
drop policy if exists messages_insert on public.messages;
create policy messages_insert on public.messages
  for insert to authenticated
  with check (sender_id = (select auth.uid()) and kind = 'text');

-- Soft deletion (the deleted_at column only; messages_guard_deletion stamps it):
-- the sender deletes their own messages, the DJ and moderators any in their room.
drop policy if exists messages_update on public.messages;
create policy messages_update on public.messages
  for update to authenticated
  using (sender_id = (select auth.uid()) or session_id in (select private.my_moderated_session_ids()))
  with check (sender_id = (select auth.uid()) or session_id in (select private.my_moderated_session_ids()));

-- dj_blocked_terms: each DJ manages their own list.
drop policy if exists dj_blocked_terms_select on public.dj_blocked_terms;
create policy dj_blocked_terms_select on public.dj_blocked_terms
  for select to authenticated
  using (dj_id = (select auth.uid()));

drop policy if exists dj_blocked_terms_insert on public.dj_blocked_terms;
create policy dj_blocked_terms_insert on public.dj_blocked_terms
  for insert to authenticated
  with check (dj_id = (select auth.uid()));

drop policy if exists dj_blocked_terms_delete on public.dj_blocked_terms;
create policy dj_blocked_terms_delete on public.dj_blocked_terms
  for delete to authenticated
  using (dj_id = (select auth.uid()));
