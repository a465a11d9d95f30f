-- badges: the catalog, public.
drop policy if exists badges_select on public.badges;
create policy badges_select on public.badges
  for select to anon, authenticated
  using (true);

-- user_badges: shown on profiles, public; written only by the system.
drop policy if exists user_badges_select on public.user_badges;
create policy user_badges_select on public.user_badges
  for select to anon, authenticated
  using (true);

-- invite_codes: your own (made by rpc/my_invite_code).
drop policy if exists invite_codes_select on public.invite_codes;
create policy invite_codes_select on public.invite_codes
  for select to authenticated
  using (user_id = (select auth.uid()));

-- referrals: either side reads it; written only by rpc/redeem_invite and the system.
drop policy if exists referrals_select on public.referrals;
create policy referrals_select on public.referrals
  for select to authenticated
  using (referrer_id = (select auth.uid()) or referred_id = (select auth.uid()));
