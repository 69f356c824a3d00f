"""The hand-off types, one module per stage that produces them.

Import them from `baton.pipelines.models`, which gathers them in one place (and owns the list
of types whose JSON schemas make up Baton's wire format); these modules only keep each group
small enough to read.
"""
