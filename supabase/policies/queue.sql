-- queue_items: the room (present listeners, DJ, moderators) sees the queue and
-- its history; participants add songs as themselves (the add rules trigger
-- checks the rest). The DJ, and whoever added a song while in the room, may
-- update it: the column grants (status, pinned_at) and
-- queue_items_guard_app_updates narrow that to removing a queued song and
-- (the DJ) pinning one. Advancing and ordering go through queue_commands.
drop policy if exists queue_items_select on public.queue_items;
create policy queue_items_select on public.queue_items
  for select to authenticated
  using (session_id in (select private.my_session_ids()));

drop policy if exists queue_items_insert on public.queue_items;
create policy queue_items_insert on public.queue_items
  for insert to authenticated
  with check (added_by = (select auth.uid()));

-- queue_vote_deltas: a song's unfolded vote changes are part of its tally,
-- so whoever sees the song (the room) sees them.
drop policy if exists queue_vote_deltas_select on private.queue_vote_deltas;
create policy queue_vote_deltas_select on private.queue_vote_deltas
  for select to authenticated
  using (exists (select 1 from public.queue_items q where q.id = item_id));

drop policy if exists queue_items_update on public.queue_items;
create policy queue_items_update on public.queue_items
  for update to authenticated
  using (session_id in (select private.my_hosted_session_ids())
         or (added_by = (select auth.uid()) and session_id in (select private.my_session_ids())))
  with check (session_id in (select private.my_hosted_session_ids())
              or (added_by = (select auth.uid()) and session_id in (select private.my_session_ids())));

-- queue_commands: the DJ's actions on their room's queue (advance, skip,
-- reorder, report_track), applied by queue_commands_apply; the DJ reads their
-- rooms' log.
drop policy if exists queue_commands_select on public.queue_commands;
create policy queue_commands_select on public.queue_commands
  for select to authenticated
  using (session_id in (select private.my_hosted_session_ids()));

drop policy if exists queue_commands_insert on public.queue_commands;
create policy queue_commands_insert on public.queue_commands
  for insert to authenticated
  with check (actor_id = (select auth.uid()) and session_id in (select private.my_hosted_session_ids()));

-- queue_votes: your own votes only; the tallies on queue_items are public to the room.
drop policy if exists queue_votes_select on public.queue_votes;
create policy queue_votes_select on public.queue_votes
  for select to authenticated
  using (user_id = (select auth.uid()));

drop policy if exists queue_votes_insert on public.queue_votes;
create policy queue_votes_insert on public.queue_votes
  for insert to authenticated
  with check (user_id = (select auth.uid()));

drop policy if exists queue_votes_update on public.queue_votes;
create policy queue_votes_update on public.queue_votes
  for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));

drop policy if exists queue_votes_delete on public.queue_votes;
create policy queue_votes_delete on public.queue_votes
  for delete to authenticated
  using (user_id = (select auth.uid()));

-- skip_votes: your own; progress is broadcast, kept on the song's row
-- (queue_items.skip_votes) and returned by now_playing(). A vote is a present,
-- unbanned listener's, on their room's playing song (one per song: the key);
-- skip_votes_count counts it under the room's lock.
drop policy if exists skip_votes_select on public.skip_votes;
create policy skip_votes_select on public.skip_votes
  for select to authenticated
  using (user_id = (select auth.uid()));

drop policy if exists skip_votes_insert on public.skip_votes;
create policy skip_votes_insert on public.skip_votes
  for insert to authenticated
  with check (
    user_id = (select auth.uid())
    and item_id in (
      select q.id from public.queue_items q
      join public.session_participants p on p.session_id = q.session_id
      where q.status = 'playing' and p.user_id = (select auth.uid()) and p.left_at is null
        and not exists (select 1 from public.session_sanctions x
                        where x.session_id = q.session_id and x.user_id = (select auth.uid()) and x.kind = 'ban')));

drop policy if exists skip_votes_update on public.skip_votes;
create policy skip_votes_update on public.skip_votes
  for update to authenticated
  using (user_id = (select auth.uid()))
  with check (
    user_id = (select auth.uid())
    and item_id in (
      select q.id from public.queue_items q
      join public.session_participants p on p.session_id = q.session_id
      where q.status = 'playing' and p.user_id = (select auth.uid()) and p.left_at is null
        and not exists (select 1 from public.session_sanctions x
                        where x.session_id = q.session_id and x.user_id = (select auth.uid()) and x.kind = 'ban')));

-- dj_fallback_tracks: each DJ's own list.
drop policy if exists dj_fallback_tracks_select on public.dj_fallback_tracks;
create policy dj_fallback_tracks_select on public.dj_fallback_tracks
  for select to authenticated
  using (dj_id = (select auth.uid()));

drop policy if exists dj_fallback_tracks_insert on public.dj_fallback_tracks;
create policy dj_fallback_tracks_insert on public.dj_fallback_tracks
  for insert to authenticated
  with check (dj_id = (select auth.uid()));

drop policy if exists dj_fallback_tracks_update on public.dj_fallback_tracks;
create policy dj_fallback_tracks_update on public.dj_fallback_tracks
  for update to authenticated
  using (dj_id = (select auth.uid()))
  with check (dj_id = (select auth.uid()));

drop policy if exists dj_fallback_tracks_delete on public.dj_fallback_tracks;
create policy dj_fallback_tracks_delete on public.dj_fallback_tracks
  for delete to authenticated
  using (dj_id = (select auth.uid()));

-- session_recommendations: each DJ reads their own rooms' (recommendations()
-- filters them by the room's queue); written only by the refresh triggers.
drop policy if exists session_recommendations_select on public.session_recommendations;
create policy session_recommendations_select on public.session_recommendations
  for select to authenticated
  using (session_id in (select private.my_hosted_session_ids()));
