from voicemon.eval.wer import normalise_words, word_error_rate


def test_identical_text_has_zero_error():
    assert word_error_rate("I already told you, twice!", "i already told you twice") == 0.0


def test_counts_substitution_deletion_insertion():
    assert word_error_rate("a b c d", "a x c") == 0.5  # one substitution, one deletion
    assert word_error_rate("a b", "a b c d") == 1.0  # two insertions


def test_empty_reference():
    assert word_error_rate("", "") == 0.0
    assert word_error_rate("", "hello there") == 2.0


def test_normalise_keeps_apostrophes():
    assert normalise_words("Don’t PUT me on hold.") == ["don't", "put", "me", "on", "hold"]
