"""Baton's language server: a thin pygls adapter from LSP to baton.pipelines."""

from baton.pipelines import __version__

__all__ = ["__version__"]
