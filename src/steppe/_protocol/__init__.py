"""The Inngest SDK HTTP protocol: sync, calls, signing and the wire format. Builds on ``steppe._core``.

The public entry points (the framework adapters and ``ServeHandler``) are in ``steppe.serve``."""
