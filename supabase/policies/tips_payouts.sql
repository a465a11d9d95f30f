-- Tips and payouts are readable by the people it concerns and written only by the webhook
-- and create-tip functions (no insert/update/delete grants to the app).

-- payout_accounts: the DJ's own.
drop policy if exists payout_accounts_select on public.payout_accounts;
create policy payout_accounts_select on public.payout_accounts
  for select to authenticated
  using (dj_id = (select auth.uid()));

-- tips: the tipper and the DJ who received it.
drop policy if exists tips_select on public.tips;
create policy tips_select on public.tips
  for select to authenticated
  using (tipper_id = (select auth.uid()) or dj_id = (select auth.uid()));

-- payouts: the DJ's own payout history.
drop policy if exists payouts_select on public.payouts;
create policy payouts_select on public.payouts
  for select to authenticated
  using (dj_id = (select auth.uid()));

-- earnings_entries: a DJ's own ledger entries (dj_id, kind, amount, currency
-- only: column grants), summed by rpc/my_earnings.
drop policy if exists earnings_entries_select on private.earnings_entries;
create policy earnings_entries_select on private.earnings_entries
  for select to authenticated
  using (dj_id = (select auth.uid()));
