"""The runtime shared by the functions and the workers: settings, the database
pool, migrations, the named queries, token verification and the Stripe client.
Nothing here imports `functions`, `workers` or `localstack`."""
