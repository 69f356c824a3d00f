from calc.ops import add, mul


def test_add_negative():
    assert add(-2, 3) == 1


def test_add_zero():
    assert add(0, 0) == 0


def test_mul_still_works():
    assert mul(-2, 3) == -6
