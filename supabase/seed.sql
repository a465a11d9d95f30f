-- Demo data for the local stack (and `supabase db reset`). Idempotent.
-- Users are inserted as Supabase Auth would; the sign-up trigger makes profiles.
insert into auth.users (id, aud, role, email, raw_user_meta_data, raw_app_meta_data, email_confirmed_at, created_at, updated_at)
values
  ('00000000-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'nova@openparty.test',
   '{"username": "dj_nova", "full_name": "DJ Nova"}', '{"provider": "email"}', now(), now(), now()),
  ('00000000-0000-4000-8000-000000000002', 'authenticated', 'authenticated', 'kai@openparty.test',
   '{"username": "kai", "full_name": "Kai"}', '{"provider": "email"}', now(), now(), now()),
  ('00000000-0000-4000-8000-000000000003', 'authenticated', 'authenticated', 'mila@openparty.test',
   '{"username": "mila", "full_name": "Mila"}', '{"provider": "email"}', now(), now(), now()),
  ('00000000-0000-4000-8000-000000000004', 'authenticated', 'authenticated', 'ren@openparty.test',
   '{"username": "ren", "full_name": "Ren"}', '{"provider": "email"}', now(), now(), now())
on conflict (id) do nothing;

update public.profiles
set is_dj = true, genres = array['house', 'techno'], bio = 'Deep house every Friday.'
where id = '00000000-0000-4000-8000-000000000001';

-- DJ Nova is live with three listeners chatting (again, if the cleanup worker
-- ended an earlier demo session). Each step runs as that user, through the
-- same RPCs and inserts the app uses. Under scripts/dev the room stays live: a
-- dev-only heartbeat (localstack/dev.py) pings as DJ Nova and the listeners
-- every 30 s, as the app would, and re-runs this file. Loaded by
-- `supabase db reset` instead, nothing pings, so the cleanup worker ends it
-- after OPENPARTY_HEARTBEAT_TIMEOUT_SECONDS (300).
do $seed$
declare
  v_session uuid;
  v_listener record;
begin
  if exists (select 1 from public.sessions s where s.dj_id = '00000000-0000-4000-8000-000000000001'
             and s.status = 'live') then
    return;
  end if;
  perform set_config('request.jwt.claims', '{"sub": "00000000-0000-4000-8000-000000000001", "role": "authenticated"}', true);
  select id into v_session from public.go_live('Friday deep house', 'Warm-up set, requests welcome', array['house', 'deep']);
  insert into public.messages (session_id, body) values (v_session, 'Welcome in! Drop your requests in the queue.');
  for v_listener in
    select * from (values ('00000000-0000-4000-8000-000000000002'::uuid, 'This bassline!'),
                          ('00000000-0000-4000-8000-000000000003'::uuid, 'Hello from Lisbon'),
                          ('00000000-0000-4000-8000-000000000004'::uuid, 'First time here, loving it')) as l(id, line)
  loop
    perform set_config('request.jwt.claims', json_build_object('sub', v_listener.id, 'role', 'authenticated')::text, true);
    perform public.join_session(v_session);
    perform public.follow('00000000-0000-4000-8000-000000000001');
    insert into public.messages (session_id, body) values (v_session, v_listener.line);
  end loop;
  perform set_config('request.jwt.claims', '', true);
end
$seed$;
