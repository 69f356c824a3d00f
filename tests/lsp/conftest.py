"""Fixtures for the pytest-lsp tests; the harness itself is lsp_harness.py (a module with a
unique name, so test modules can import its helpers whatever other conftest.py files exist)."""

from lsp_harness import editor, scripted

__all__ = ["editor", "scripted"]
