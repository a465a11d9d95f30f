-- moderation_actions: the audit log, read by the session's DJ and moderators.
drop policy if exists moderation_actions_select on public.moderation_actions;
create policy moderation_actions_select on public.moderation_actions
  for select to authenticated
  using (session_id in (select private.my_moderated_session_ids()));
