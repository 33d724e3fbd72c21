"""Immutable data tables used by the normaliser (no I/O, loaded once at import)."""
