"""Which stored names a question mentions: `<name>` and `@name` always; a plain word only when it
cannot be a false hit (one concept has that name, 3+ characters, not a common word of the question)."""

from __future__ import annotations

from worker.domain.mentions import common_words, mentioned_names


def test_names_in_brackets_case_and_unicode_folded_in_text_order() -> None:
    names = ["Bo", "Ｍｏｃｈｉ", "kitchen table"]
    assert mentioned_names("Is <mochi> next to <BO>?", names) == ["Ｍｏｃｈｉ", "Bo"]
    assert mentioned_names("what is on the Kitchen Table", names) == ["kitchen table"]


def test_plain_names_match_whole_words_only() -> None:
    assert mentioned_names("bob and bonnie went out", ["bob"]) == ["bob"]
    assert mentioned_names("bobby and bonnie went out", ["bob"]) == []
    assert mentioned_names("where did mochi go?", ["mochi"]) == ["mochi"]


def test_common_english_words_never_name_a_concept_plainly() -> None:
    names = ["me", "it", "cat"]
    assert mentioned_names("what is it doing next to me?", names) == []
    assert mentioned_names("what does it like?", ["it"]) == []
    # Brackets and @ always work, whatever the word.
    assert mentioned_names("what does <me> like? and @it?", names) == ["me", "it"]
    assert mentioned_names("what does @IT like?", names) == ["it"]


def test_a_plain_word_of_three_or_more_letters_names_its_concept() -> None:
    assert mentioned_names("where is cat sleeping today?", ["cat", "me"]) == ["cat"]
    assert mentioned_names("is Cat hungry?", ["cat"]) == ["cat"]


def test_two_letter_names_need_brackets_or_at() -> None:
    assert mentioned_names("where did Bo go?", ["Bo"]) == []
    assert mentioned_names("where did <bo> go?", ["Bo"]) == ["Bo"]
    assert mentioned_names("where did @bo go?", ["Bo"]) == ["Bo"]
    assert mentioned_names("where did @bob go?", ["Bo"]) == []  # @ takes a whole name


def test_ambiguous_names_need_brackets() -> None:
    # A user's "cat" and a group's "Cat": a plain "cat" could be either.
    assert mentioned_names("where is cat sleeping?", ["cat", "Cat"]) == []
    assert mentioned_names("where is <cat> sleeping?", ["cat", "Cat"]) == ["cat"]


def test_cyrillic_name_plain_when_not_a_russian_stop_word() -> None:
    assert mentioned_names("Что делает Ана на этой фотографии?", ["Ана"]) == ["Ана"]
    assert mentioned_names("где сейчас ана?", ["Ана"]) == ["Ана"]
    # "она" ("she") is a Russian stop word: only as <она> or @она.
    assert mentioned_names("Что она делает на этой фотографии?", ["Она"]) == []
    assert mentioned_names("Что делает <она> на этой фотографии?", ["Она"]) == ["Она"]


def test_the_questions_language_picks_the_stop_words() -> None:
    # "cat" is a Romanian word ("how much"): in a Romanian question it does not name the concept.
    assert "cat" in common_words("Cat de mult a mancat cainele astazi la pranz?")
    assert mentioned_names("Cat de mult a mancat cainele astazi la pranz?", ["cat"]) == []
    assert mentioned_names("How much did cat eat for lunch today?", ["cat"]) == ["cat"]


def test_a_plain_word_inside_another_bracketed_name_is_not_a_mention() -> None:
    names = ["cat", "cat toy"]
    assert mentioned_names("where is the <cat toy>?", names) == ["cat toy"]
    assert mentioned_names("does cat like the <cat toy>?", names) == ["cat", "cat toy"]


def test_multi_word_names_of_only_common_words_need_brackets() -> None:
    assert mentioned_names("is the one over there?", ["the one"]) == []
    assert mentioned_names("is <the one> over there?", ["the one"]) == ["the one"]
