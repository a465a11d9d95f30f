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
