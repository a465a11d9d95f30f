-- Private Realtime channels. Every column is qualified: an unqualified `topic`
-- inside a subquery would bind to realtime.messages.topic and open every topic.
-- Receive: user:<own id>, and session:<id> for its DJ, moderators and present
-- participants.
drop policy if exists realtime_messages_receive on realtime.messages;
create policy realtime_messages_receive on realtime.messages
  for select to authenticated
  using (
    realtime.messages.extension in ('broadcast', 'presence')
    and realtime.messages.topic = (select realtime.topic())
    and (select private.can_receive_topic((select realtime.topic())))
  );

-- Send: clients only track Presence on session topics they belong to;
-- broadcasts on session: and user: topics come only from the database.
drop policy if exists realtime_messages_send on realtime.messages;
create policy realtime_messages_send on realtime.messages
  for insert to authenticated
  with check (
    realtime.messages.extension = 'presence'
    and realtime.messages.topic = (select realtime.topic())
    and (select realtime.topic()) like 'session:%'
    and (select private.can_receive_topic((select realtime.topic())))
  );
