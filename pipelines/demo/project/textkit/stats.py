"""Counting words."""

import re

_WORD = re.compile(r"[a-z']+")


def words(text: str) -> list[str]:
    """The words of a text, lower-cased."""
    return _WORD.findall(text.lower())


def word_count(text: str) -> int:
    """How many words a text has."""
    return len(words(text))
