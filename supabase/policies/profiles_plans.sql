-- entitlements: the user's own; written only by the webhook functions.
drop policy if exists entitlements_select on public.entitlements;
create policy entitlements_select on public.entitlements
  for select to authenticated
  using (user_id = (select auth.uid()));

-- profiles: readable by everyone (public DJ and listener profiles); each user
-- updates only their own row, and column grants limit which columns.

drop policy if exists profiles_select on public.profiles;
create policy profiles_select on public.profiles
  for select to anon, authenticated
  using (true);

drop policy if exists profiles_update on public.profiles;
create policy profiles_update on public.profiles
  for update to authenticated
  using (id = (select auth.uid()))
  with check (id = (select auth.uid()));

-- plans: public catalogue.
drop policy if exists plans_select on public.plans;
create policy plans_select on public.plans
  for select to anon, authenticated
  using (true);
