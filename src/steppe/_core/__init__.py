"""The core: the step API, running one attempt of a function, the driver protocol, and the definitions they need.

Imports nothing from ``steppe._engine`` or ``steppe._protocol``; both build on it."""
