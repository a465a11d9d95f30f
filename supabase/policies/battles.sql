-- battles: a challenge is seen by its two DJs; once started (live or finished)
-- by everyone (results and history are public). A live DJ challenges as
-- themselves; the two DJs move it (battles_guard_status says which moves).
drop policy if exists battles_select on public.battles;
create policy battles_select on public.battles
  for select to anon, authenticated
  using (status in ('live', 'finished')
         or challenger_id = (select auth.uid()) or opponent_id = (select auth.uid()));

drop policy if exists battles_insert on public.battles;
create policy battles_insert on public.battles
  for insert to authenticated
  with check (challenger_id = (select auth.uid()));

drop policy if exists battles_update on public.battles;
create policy battles_update on public.battles
  for update to authenticated
  using (challenger_id = (select auth.uid()) or opponent_id = (select auth.uid()))
  with check (challenger_id = (select auth.uid()) or opponent_id = (select auth.uid()));

-- battle_rounds: rounds exist only for started battles: public.
drop policy if exists battle_rounds_select on public.battle_rounds;
create policy battle_rounds_select on public.battle_rounds
  for select to anon, authenticated
  using (true);

-- battle_votes: your own (the tallies are public through battle_state and events).
drop policy if exists battle_votes_select on public.battle_votes;
create policy battle_votes_select on public.battle_votes
  for select to authenticated
  using (user_id = (select auth.uid()));

drop policy if exists battle_votes_insert on public.battle_votes;
create policy battle_votes_insert on public.battle_votes
  for insert to authenticated
  with check (user_id = (select auth.uid()));
