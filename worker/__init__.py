"""The worker process: APScheduler jobs that claim due rows from the database and act on them."""
