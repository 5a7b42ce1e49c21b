"""Speed on this machine: timing one model (warm-up, runs, median/p90), peak memory, many models in one go, and the
SQLite store of measurements."""
