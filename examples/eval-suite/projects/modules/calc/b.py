"""Module b."""


def fb():
    return 2
