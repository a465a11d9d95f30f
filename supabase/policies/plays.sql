-- The play log is written only by triggers. A play is visible to its DJ, to
-- the artist of its track, and to the listeners who heard it; a listener
-- sees only their own play_listeners rows (artists get counts through
-- my_track_stats over private.track_listens, never who listened).

drop policy if exists plays_select on public.plays;
create policy plays_select on public.plays
  for select to authenticated
  using (
    dj_id = (select auth.uid())
    or track_id in (select t.id from public.tracks t where t.artist_id = (select auth.uid()))
    or id in (select l.play_id from public.play_listeners l where l.user_id = (select auth.uid()))
  );

drop policy if exists play_listeners_select on public.play_listeners;
create policy play_listeners_select on public.play_listeners
  for select to authenticated
  using (user_id = (select auth.uid()));

-- track_listens: the listens of an artist's tracks, to that artist (listeners as pseudonyms).
drop policy if exists track_listens_select on private.track_listens;
create policy track_listens_select on private.track_listens
  for select to authenticated
  using (artist_id = (select auth.uid()));
