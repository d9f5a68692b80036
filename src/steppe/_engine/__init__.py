"""The embedded engine: runs functions durably in this process on one SQLite file. Builds on ``steppe._core``."""
