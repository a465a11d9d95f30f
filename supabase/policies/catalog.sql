-- The catalog: published tracks are public; artists see and edit their own.
-- Inserts are checked by tracks_protect_server_fields (is_artist, the file exists).

drop policy if exists tracks_select on public.tracks;
create policy tracks_select on public.tracks
  for select to anon, authenticated
  using (status = 'published' or artist_id = (select auth.uid()));

drop policy if exists tracks_insert on public.tracks;
create policy tracks_insert on public.tracks
  for insert to authenticated
  with check (artist_id = (select auth.uid()));

drop policy if exists tracks_update on public.tracks;
create policy tracks_update on public.tracks
  for update to authenticated
  using (artist_id = (select auth.uid()))
  with check (artist_id = (select auth.uid()));

-- The tracks bucket (private). An artist writes, lists, replaces and deletes
-- files only in their own folder <user id>/ (same path-safety rule as the
-- avatars and covers buckets: no empty, '.' or '..' segment). A signed-in user
-- may read (and so get a signed URL for) the file of a published track.
drop policy if exists storage_objects_tracks_select on storage.objects;
create policy storage_objects_tracks_select on storage.objects
  for select to authenticated
  using (
    bucket_id = 'tracks'
    and (
      ((storage.foldername(name))[1] = (select auth.uid())::text and name !~ '(^|/)\.{0,2}(/|$)')
      or exists (select 1 from public.tracks t where t.audio_path = name and t.status = 'published')
    )
  );

drop policy if exists storage_objects_tracks_insert on storage.objects;
create policy storage_objects_tracks_insert on storage.objects
  for insert to authenticated
  with check (
    bucket_id = 'tracks'
    and (storage.foldername(name))[1] = (select auth.uid())::text
    and name !~ '(^|/)\.{0,2}(/|$)'
    and exists (select 1 from public.profiles p where p.id = (select auth.uid()) and p.is_artist)
  );

drop policy if exists storage_objects_tracks_update on storage.objects;
create policy storage_objects_tracks_update on storage.objects
  for update to authenticated
  using (
    bucket_id = 'tracks'
    and owner_id = (select auth.uid())::text
  )
  with check (
    bucket_id = 'tracks'
    and (storage.foldername(name))[1] = (select auth.uid())::text
    and name !~ '(^|/)\.{0,2}(/|$)'
    and exists (select 1 from public.profiles p where p.id = (select auth.uid()) and p.is_artist)
  );

drop policy if exists storage_objects_tracks_delete on storage.objects;
create policy storage_objects_tracks_delete on storage.objects
  for delete to authenticated
  using (
    bucket_id = 'tracks'
    and owner_id = (select auth.uid())::text
  );
