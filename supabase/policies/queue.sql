-- queue_items: the room (present listeners, DJ, moderators) sees the queue and
-- its history; participants add songs as themselves (the add rules trigger
-- checks the rest). Status, pins and order change only through functions.
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

-- skip_votes: your own; progress is broadcast and returned by now_playing().
drop policy if exists skip_votes_select on public.skip_votes;
create policy skip_votes_select on public.skip_votes
  for select to authenticated
  using (user_id = (select auth.uid()));

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
