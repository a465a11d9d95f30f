-- Reports of a message or a user, for the platform's review.

create table public.reports (
  id bigint generated always as identity primary key,
  reporter_id uuid not null references public.profiles (id) on delete cascade,
  reported_user_id uuid not null references public.profiles (id) on delete cascade,
  message_id bigint references public.messages (id) on delete set null,
  session_id uuid references public.sessions (id) on delete set null,
  reason text not null check (reason in ('spam', 'harassment', 'hate', 'sexual', 'violence', 'other')),
  details text not null default '' check (char_length(details) <= 1000),
  status text not null default 'open' check (status in ('open', 'reviewing', 'actioned', 'dismissed')),
  created_at timestamptz not null default now(),
  constraint reports_not_self check (reporter_id <> reported_user_id)
);
comment on table public.reports is 'Reports of a message or a user; the reporter and the platform (service_role) see them.';
comment on column public.reports.status is 'open: new; reviewing: the platform looks at it; actioned / dismissed: decided';
create index reports_reporter on public.reports (reporter_id, created_at desc);
create index reports_reported_user on public.reports (reported_user_id);
create index reports_message on public.reports (message_id);
create index reports_session on public.reports (session_id);
create index reports_open on public.reports (created_at) where status = 'open';
-- One unresolved (open or reviewing) report per reporter per message, or per
-- reported user when no message is named; the trigger answers 409 first, these
-- hold under concurrency. Decided reports do not count: reporting again later is fine.
create unique index reports_one_open_per_message on public.reports (reporter_id, message_id)
  where status in ('open', 'reviewing') and message_id is not null;
create unique index reports_one_open_per_user on public.reports (reporter_id, reported_user_id)
  where status in ('open', 'reviewing') and message_id is null;
revoke all on public.reports from anon, authenticated, service_role;
grant select on public.reports to authenticated;
grant insert (reported_user_id, message_id, session_id, reason, details) on public.reports to authenticated;
grant select, insert, update, delete on public.reports to service_role;
alter table public.reports enable row level security;

-- A report of a message names its sender and session; the reporter is the caller.
-- Only a message of a room the caller is or was in (present or past listener,
-- DJ, moderator) can be reported; any other id answers 404 like a missing
-- one, and fills in nothing (no sender or session revealed).
create function private.reports_before_insert() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_message public.messages;
begin
  new.reporter_id := coalesce((select auth.uid()), new.reporter_id);
  new.status := 'open';
  if new.message_id is not null then
    select * into v_message from public.messages m where m.id = new.message_id;
    if not found or v_message.sender_id is null
       or ((select auth.uid()) is not null
           and not exists (select 1 from public.session_participants p
                           where p.session_id = v_message.session_id and p.user_id = new.reporter_id)
           and not private.may_moderate(v_message.session_id, new.reporter_id)) then
      raise exception using errcode = 'PT404', message = 'message not found';
    end if;
    new.reported_user_id := v_message.sender_id;
    new.session_id := v_message.session_id;
  end if;
  if new.reported_user_id is null then
    raise exception using errcode = 'PT422', message = 'report a message or a user';
  end if;
  if exists (select 1 from public.reports r
             where r.reporter_id = new.reporter_id and r.status in ('open', 'reviewing')
               and (case when new.message_id is not null then r.message_id = new.message_id
                         else r.message_id is null and r.reported_user_id = new.reported_user_id end)) then
    raise exception using errcode = 'PT409', message = 'you already reported this; it is being looked at';
  end if;
  return new;
end;
$$;
revoke all on function private.reports_before_insert() from public, anon, authenticated, service_role;

create trigger reports_before_insert
before insert on public.reports
for each row execute function private.reports_before_insert();
