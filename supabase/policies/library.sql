-- saved_songs: your own; saved by naming a queue item (rpc/save_song; the
-- insert trigger checks you were in its session and fills in the song),
-- deleted to unsave.
drop policy if exists saved_songs_select on public.saved_songs;
create policy saved_songs_select on public.saved_songs
  for select to authenticated
  using (user_id = (select auth.uid()));

drop policy if exists saved_songs_insert on public.saved_songs;
create policy saved_songs_insert on public.saved_songs
  for insert to authenticated
  with check (user_id = (select auth.uid()));

drop policy if exists saved_songs_delete on public.saved_songs;
create policy saved_songs_delete on public.saved_songs
  for delete to authenticated
  using (user_id = (select auth.uid()));

-- session_likes: public (like follows); you like and unlike as yourself (the
-- insert trigger checks you were in the session).
drop policy if exists session_likes_select on public.session_likes;
create policy session_likes_select on public.session_likes
  for select to anon, authenticated
  using (true);

drop policy if exists session_likes_insert on public.session_likes;
create policy session_likes_insert on public.session_likes
  for insert to authenticated
  with check (user_id = (select auth.uid()));

drop policy if exists session_likes_delete on public.session_likes;
create policy session_likes_delete on public.session_likes
  for delete to authenticated
  using (user_id = (select auth.uid()));

-- playlists: your own; a public one also to whoever presents its share code
-- (rpc/shared_playlist sets openparty.share_code for its one read): never
-- listed, the 122-bit code is the key.
drop policy if exists playlists_select on public.playlists;
create policy playlists_select on public.playlists
  for select to anon, authenticated
  using (owner_id = (select auth.uid())
         or (is_public and share_code = (select pg_catalog.current_setting('openparty.share_code', true))));

drop policy if exists playlists_insert on public.playlists;
create policy playlists_insert on public.playlists
  for insert to authenticated
  with check (owner_id = (select auth.uid()));

drop policy if exists playlists_update on public.playlists;
create policy playlists_update on public.playlists
  for update to authenticated
  using (owner_id = (select auth.uid()))
  with check (owner_id = (select auth.uid()));

drop policy if exists playlists_delete on public.playlists;
create policy playlists_delete on public.playlists
  for delete to authenticated
  using (owner_id = (select auth.uid()));

-- playlist_items: read with the playlist (the playlists you may read, by
-- their own policy); written only in your own playlists, with your own saved
-- songs. Neither policy reads a table whose policies read playlist_items, so
-- nothing recurses (no helper functions needed).
drop policy if exists playlist_items_select on public.playlist_items;
create policy playlist_items_select on public.playlist_items
  for select to anon, authenticated
  using (playlist_id in (select p.id from public.playlists p));

drop policy if exists playlist_items_insert on public.playlist_items;
create policy playlist_items_insert on public.playlist_items
  for insert to authenticated
  with check (playlist_id in (select p.id from public.playlists p where p.owner_id = (select auth.uid()))
              and saved_song_id in (select s.id from public.saved_songs s where s.user_id = (select auth.uid())));

drop policy if exists playlist_items_update on public.playlist_items;
create policy playlist_items_update on public.playlist_items
  for update to authenticated
  using (playlist_id in (select p.id from public.playlists p where p.owner_id = (select auth.uid())))
  with check (playlist_id in (select p.id from public.playlists p where p.owner_id = (select auth.uid())));

drop policy if exists playlist_items_delete on public.playlist_items;
create policy playlist_items_delete on public.playlist_items
  for delete to authenticated
  using (playlist_id in (select p.id from public.playlists p where p.owner_id = (select auth.uid())));
