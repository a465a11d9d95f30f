-- live_now_playing: what a live room plays is public (anyone browsing, signed in
-- or not); a session that is not live shows nothing.
drop policy if exists live_now_playing_select on private.live_now_playing;
create policy live_now_playing_select on private.live_now_playing
  for select to anon, authenticated
  using (exists (select 1 from public.sessions s where s.id = live_now_playing.session_id and s.status = 'live'));
