"""Baton's engine: everything that is not LSP. Never imports baton.server."""

__version__ = "0.1.0"
