-- spotify_links: each user reads their own link (never the tokens: those are
-- in private.spotify_tokens, which no app role can read). Written by the edge.
drop policy if exists spotify_links_select on public.spotify_links;
create policy spotify_links_select on public.spotify_links
  for select to authenticated
  using (user_id = (select auth.uid()));
