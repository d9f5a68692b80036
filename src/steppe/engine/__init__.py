"""The embedded durable engine: SQLite storage, timers, event matching, retries."""
