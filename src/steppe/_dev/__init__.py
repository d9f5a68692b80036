"""``steppe dev``: the engine's worker and a browser UI over its database, in one process.

Private: the command (``command.py``) is the public face. The pages are rendered on the server (jinja2, autoescaped);
the only script is ours (``static/dev.js``), and it only reloads a page while runs on it are in flight.
"""
