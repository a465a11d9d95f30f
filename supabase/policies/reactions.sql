-- reactions: no public tables (counters and gates are private tables with RLS
-- on and no policies); reacting is rpc/react, which writes the caller's own
-- private.reaction_senders row (its triggers check the room and the rate limit,
-- count and publish).
drop policy if exists reaction_senders_select on private.reaction_senders;
create policy reaction_senders_select on private.reaction_senders
  for select to authenticated
  using (user_id = (select auth.uid()));

drop policy if exists reaction_senders_insert on private.reaction_senders;
create policy reaction_senders_insert on private.reaction_senders
  for insert to authenticated
  with check (user_id = (select auth.uid()));

drop policy if exists reaction_senders_update on private.reaction_senders;
create policy reaction_senders_update on private.reaction_senders
  for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));
