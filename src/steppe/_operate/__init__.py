"""Operating runs on a steppe database from any process: listings and history (``Runs``), and the worker."""
