-- Avatars and covers: public buckets, so files are read by URL and there is no
-- broad SELECT policy (that would make them listable). A user writes, lists and
-- deletes only inside their own folder: <user id>/<file>. Size and MIME limits
-- are the buckets' own (file_size_limit, allowed_mime_types).
-- A name with an empty, '.' or '..' segment ('<me>/../<other>/x.png',
-- '<me>/./x', '<me>//x', '<me>/..', a trailing '/') is refused: the first
-- segment must really be the folder the file lands in. Writes need a profile:
-- an account being deleted (its profile gone, its token still valid) writes nothing.
drop policy if exists storage_objects_select_own on storage.objects;
create policy storage_objects_select_own on storage.objects
  for select to authenticated
  using (
    bucket_id in ('avatars', 'covers')
    and (storage.foldername(name))[1] = (select auth.uid())::text
    and name !~ '(^|/)\.{0,2}(/|$)'
  );

drop policy if exists storage_objects_insert_own on storage.objects;
create policy storage_objects_insert_own on storage.objects
  for insert to authenticated
  with check (
    bucket_id in ('avatars', 'covers')
    and (storage.foldername(name))[1] = (select auth.uid())::text
    and name !~ '(^|/)\.{0,2}(/|$)'
    and exists (select 1 from public.profiles p where p.id = (select auth.uid()))  -- not a deleted account's token
  );

drop policy if exists storage_objects_update_own on storage.objects;
create policy storage_objects_update_own on storage.objects
  for update to authenticated
  using (
    bucket_id in ('avatars', 'covers')
    and owner_id = (select auth.uid())::text
  )
  with check (
    bucket_id in ('avatars', 'covers')
    and (storage.foldername(name))[1] = (select auth.uid())::text
    and name !~ '(^|/)\.{0,2}(/|$)'
    and exists (select 1 from public.profiles p where p.id = (select auth.uid()))  -- not a deleted account's token
  );

drop policy if exists storage_objects_delete_own on storage.objects;
create policy storage_objects_delete_own on storage.objects
  for delete to authenticated
  using (
    bucket_id in ('avatars', 'covers')
    and owner_id = (select auth.uid())::text
  );
