from calc.b import fb


def test_b():
    assert fb() == 2
