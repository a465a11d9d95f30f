-- follows: public lists; you add and remove only your own follows.
drop policy if exists follows_select on public.follows;
create policy follows_select on public.follows
  for select to anon, authenticated
  using (true);

drop policy if exists follows_insert on public.follows;
create policy follows_insert on public.follows
  for insert to authenticated
  with check (follower_id = (select auth.uid()));

drop policy if exists follows_delete on public.follows;
create policy follows_delete on public.follows
  for delete to authenticated
  using (follower_id = (select auth.uid()));

-- user_blocks: private to the blocker.
drop policy if exists user_blocks_select on public.user_blocks;
create policy user_blocks_select on public.user_blocks
  for select to authenticated
  using (blocker_id = (select auth.uid()));

drop policy if exists user_blocks_insert on public.user_blocks;
create policy user_blocks_insert on public.user_blocks
  for insert to authenticated
  with check (blocker_id = (select auth.uid()));

drop policy if exists user_blocks_delete on public.user_blocks;
create policy user_blocks_delete on public.user_blocks
  for delete to authenticated
  using (blocker_id = (select auth.uid()));

-- discovery_visibility: a DJ is discoverable by everyone except the users they
-- blocked (hidden_from, which the app cannot select: it cannot list who blocked it).
drop policy if exists discovery_visibility_select on private.discovery_visibility;
create policy discovery_visibility_select on private.discovery_visibility
  for select to anon, authenticated
  using (not coalesce((select auth.uid()) = any (hidden_from), false));
