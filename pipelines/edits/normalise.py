"""Line keys for tolerant matching: what two lines must share to be taken for the same line.

Typographic punctuation and Unicode spaces a model may emit for the file's ASCII (as codex's
seek_sequence and the Agents SDK's apply_diff normalise them) compare equal to it.
"""

from __future__ import annotations

_PUNCT = str.maketrans({
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    **dict.fromkeys("\u2018\u2019\u201a\u201b", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f", '"'),
    **dict.fromkeys("\u00a0\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000", " "),
})


def loose(s: str) -> str:
    return s.strip().translate(_PUNCT)


def normal(s: str) -> str:
    """Whitespace-normalised line: no leading/trailing blanks, inner runs of blanks as one space."""
    return " ".join(s.translate(_PUNCT).split())


