-- history: no public tables. The history RPCs (rpc/my_sessions_attended,
-- rpc/my_songs_heard, rpc/session_songs, rpc/my_listening_stats) run as the
-- caller and read these private tables under the policies below;
-- listening_days stays internal (RLS on, no policies).

-- listen_time: your own rows (written only by its trigger).
drop policy if exists listen_time_select on private.listen_time;
create policy listen_time_select on private.listen_time
  for select to authenticated
  using (user_id = (select auth.uid()));

-- songs_played: what was played in a session, for its DJ and for whoever
-- listened to it (any stint, live or finished) and is not banned from it.
drop policy if exists songs_played_select on private.songs_played;
create policy songs_played_select on private.songs_played
  for select to authenticated
  using (session_id in (select s.id from public.sessions s where s.dj_id = (select auth.uid()))
         or (session_id in (select t.session_id from private.listen_time t where t.user_id = (select auth.uid()))
             and session_id not in (select x.session_id from public.session_sanctions x
                                    where x.user_id = (select auth.uid()) and x.kind = 'ban')));
