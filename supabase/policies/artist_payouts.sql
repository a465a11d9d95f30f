-- Artist statements: each artist reads their own; written only by the payout
-- run and the transfer worker (no write grants to the app).
drop policy if exists artist_statements_select on public.artist_statements;
create policy artist_statements_select on public.artist_statements
  for select to authenticated
  using (artist_id = (select auth.uid()));
