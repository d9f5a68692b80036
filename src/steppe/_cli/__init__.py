"""The parts of the ``steppe`` command (``steppe.cli``): loading targets, choosing the event, printing progress."""
