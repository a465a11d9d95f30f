-- battles: a challenge is seen by its two DJs; once started (live or finished)
-- by everyone (results and history are public). Changed only through RPC.
drop policy if exists battles_select on public.battles;
create policy battles_select on public.battles
  for select to anon, authenticated
  using (status in ('live', 'finished')
         or challenger_id = (select auth.uid()) or opponent_id = (select auth.uid()));

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
