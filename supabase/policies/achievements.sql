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

-- invite_codes: you make your own (rpc/my_invite_code).
drop policy if exists invite_codes_insert on public.invite_codes;
create policy invite_codes_insert on public.invite_codes
  for insert to authenticated
  with check (user_id = (select auth.uid()));

-- referrals: either side reads it; the invited friend inserts it (rpc/redeem_invite:
-- only the code; referrals_redeem_invite fills in the rest), the system credits it.
drop policy if exists referrals_select on public.referrals;
create policy referrals_select on public.referrals
  for select to authenticated
  using (referrer_id = (select auth.uid()) or referred_id = (select auth.uid()));

drop policy if exists referrals_insert on public.referrals;
create policy referrals_insert on public.referrals
  for insert to authenticated
  with check (referred_id = (select auth.uid()));

-- tips_received_daily: counts of succeeded tips per DJ, session and day; public
-- (the weekly leaderboard); written only by the tips_count_received trigger.
drop policy if exists tips_received_daily_select on private.tips_received_daily;
create policy tips_received_daily_select on private.tips_received_daily
  for select to anon, authenticated
  using (true);

-- profile_achievement_stats: a profile's streaks and friends invited; public
-- like profiles; written only by its triggers.
drop policy if exists profile_achievement_stats_select on private.profile_achievement_stats;
create policy profile_achievement_stats_select on private.profile_achievement_stats
  for select to anon, authenticated
  using (true);
