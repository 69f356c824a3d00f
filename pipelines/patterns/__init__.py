"""Pipeline patterns built on the engine."""
