-- stripe_customers: the user's own.
drop policy if exists stripe_customers_select on public.stripe_customers;
create policy stripe_customers_select on public.stripe_customers
  for select to authenticated
  using (user_id = (select auth.uid()));

-- invoices: the user's own.
drop policy if exists invoices_select on public.invoices;
create policy invoices_select on public.invoices
  for select to authenticated
  using (user_id = (select auth.uid()));
