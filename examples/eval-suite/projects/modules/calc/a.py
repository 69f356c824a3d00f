"""Module a."""


def fa():
    return 1
