from calc.a import fa


def test_a():
    assert fa() == 1
