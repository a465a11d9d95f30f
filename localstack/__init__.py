"""Tooling for the local stack, the tests and the benchmarks: the embedded
Postgres, `scripts/dev`, `scripts/migrate`'s embedded fallback, the schema lint
and a local Expo-compatible endpoint. Production never imports it."""
