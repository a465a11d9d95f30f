"""The worker process: APScheduler jobs for push, receipts, cleanup and reconciliation."""
