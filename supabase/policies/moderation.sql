-- moderation_actions: the audit log, read by the session's DJ and moderators.
drop policy if exists moderation_actions_select on public.moderation_actions;
create policy moderation_actions_select on public.moderation_actions
  for select to authenticated
  using (session_id in (select private.my_moderated_session_ids()));

-- A sanction is asked for by logging it (moderation_actions_apply applies it):
-- the caller, as the DJ or a moderator of the session not banned there, times
-- out, bans or unbans someone else; never the DJ; a moderator only if the
-- caller is the DJ. Every other action is logged by the server only.
drop policy if exists moderation_actions_insert on public.moderation_actions;
create policy moderation_actions_insert on public.moderation_actions
  for insert to authenticated
  with check (
    actor_id = (select auth.uid())
    and action in ('timeout', 'ban', 'unban')
    and message_id is null
    and target_user_id <> (select auth.uid())
    and session_id in (select private.my_moderated_session_ids())
    and (action = 'unban'
         or (not exists (select 1 from public.sessions s
                         where s.id = moderation_actions.session_id and s.dj_id = moderation_actions.target_user_id)
             and (moderation_actions.session_id in (select private.my_hosted_session_ids())
                  or not exists (select 1 from public.session_moderators m
                                 where m.session_id = moderation_actions.session_id
                                   and m.user_id = moderation_actions.target_user_id))))
  );
