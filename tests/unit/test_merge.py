import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton.pipelines.merge import MergeConflict, three_way_merge

BASE = "".join(f"line {i}\n" for i in range(20))


def test_disjoint_changes_combine():
    ours = BASE.replace("line 2\n", "LINE TWO\n")
    theirs = BASE.replace("line 15\n", "user edit\n") + "appended\n"
    merged = three_way_merge(BASE, ours, theirs)
    assert "LINE TWO\n" in merged and "user edit\n" in merged and merged.endswith("appended\n")
    assert merged.count("\n") == 21


def test_overlapping_changes_conflict_with_a_clear_message():
    ours = BASE.replace("line 5\n", "ours\n")
    theirs = BASE.replace("line 5\n", "theirs\n")
    with pytest.raises(MergeConflict, match="a.py: your edits near line 6 overlap"):
        three_way_merge(BASE, ours, theirs, "a.py")


def test_trivial_cases():
    assert three_way_merge(BASE, "x\n", BASE) == "x\n"
    assert three_way_merge(BASE, BASE, "y\n") == "y\n"
    same = BASE.replace("line 1\n", "z\n")
    assert three_way_merge(BASE, same, same) == same


lines = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "d\n"]), min_size=8, max_size=8)


@settings(max_examples=200, deadline=None)
@given(o=st.integers(0, 3), t=st.integers(5, 7), ov=st.sampled_from(["X\n", ""]), tv=st.sampled_from(["Y\n", "Y\nZ\n"]))
def test_changes_far_apart_always_merge_to_both(o, t, ov, tv):
    base = [f"{i}\n" for i in range(8)]
    ours = base[:o] + ([ov] if ov else []) + base[o + 1:]
    theirs = base[:t] + [tv] + base[t + 1:]
    merged = three_way_merge("".join(base), "".join(ours), "".join(theirs))
    expect = base[:o] + ([ov] if ov else []) + base[o + 1:t] + [tv] + base[t + 1:]
    assert merged == "".join(expect)
