import calc.a
import calc.b


def test_every_function_has_a_docstring():
    assert calc.a.fa.__doc__ and calc.b.fb.__doc__
