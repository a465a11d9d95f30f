-- saved_songs: your own; saved only through rpc/save_song, deleted to unsave.
drop policy if exists saved_songs_select on public.saved_songs;
create policy saved_songs_select on public.saved_songs
  for select to authenticated
  using (user_id = (select auth.uid()));

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

-- playlists: your own; public ones are read by link through rpc/shared_playlist
-- (never listed here).
drop policy if exists playlists_select on public.playlists;
create policy playlists_select on public.playlists
  for select to authenticated
  using (owner_id = (select auth.uid()));

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

-- playlist_items: the items of your own playlists; you add your own saved songs.
drop policy if exists playlist_items_select on public.playlist_items;
create policy playlist_items_select on public.playlist_items
  for select to authenticated
  using (playlist_id in (select private.my_playlist_ids()));

drop policy if exists playlist_items_insert on public.playlist_items;
create policy playlist_items_insert on public.playlist_items
  for insert to authenticated
  with check (playlist_id in (select private.my_playlist_ids())
              and saved_song_id in (select private.my_saved_song_ids()));

drop policy if exists playlist_items_delete on public.playlist_items;
create policy playlist_items_delete on public.playlist_items
  for delete to authenticated
  using (playlist_id in (select private.my_playlist_ids()));
