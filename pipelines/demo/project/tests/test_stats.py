from textkit import word_count, words


def test_words_are_lower_cased():
    assert words("Hello World") == ["hello", "world"]


def test_word_count():
    assert word_count("one two  three") == 3
    assert word_count("") == 0
