"""textkit: tiny text utilities (Baton's demo project)."""

from .stats import word_count, words

__all__ = ["word_count", "words"]
