-- dj_daily_stats: a DJ reads their own rollups (rpc/creator_analytics reads
-- them as the caller); written only by the rollup job.
drop policy if exists dj_daily_stats_select on private.dj_daily_stats;
create policy dj_daily_stats_select on private.dj_daily_stats
  for select to authenticated
  using (dj_id = (select auth.uid()));
