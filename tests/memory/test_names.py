"""Names that deceive: invisible and bidi format characters are refused, emoji ZWJ sequences and
every single script are fine, and names that look the same (Unicode TR39 skeleton) are one name
per memory, but only per memory."""

from __future__ import annotations

import pytest
from memory_testkit import OWNER
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from memory import validation as v
from memory.errors import DuplicateName, InvalidCategory, InvalidName
from memory.types import Actor

LATIN_BO = "bo"
CYRILLIC_BO = "b\u043e"  # b + CYRILLIC SMALL LETTER O: looks exactly like "bo"
BOB = Actor("bob")


def test_cyrillic_lookalike_of_a_latin_name_is_refused_naming_the_existing_one(store, user_scope, alice, add) -> None:
    add(user_scope, alice, LATIN_BO)
    with pytest.raises(DuplicateName) as caught:
        add(user_scope, alice, CYRILLIC_BO, seed=1)
    assert (
        str(caught.value)
        == f'"{CYRILLIC_BO}" looks the same as <bo>, which is already in this memory: pick another name.'
    )
    assert [c.name for c in store.list_concepts(user_scope.id, OWNER).items] == [LATIN_BO]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("bo", "BО"),  # Cyrillic capital O, and another case: names are compared case-insensitively
        ("B0", "BO"),  # digit zero and capital O
        ("paypal", "p\u0430yp\u0430l"),  # Cyrillic a
        ("mochi", "rnochi"),  # r + n looks like m
        ("Ivy", "lvy"),  # capital I and small L
    ],
)
def test_names_that_look_the_same_are_one_name(store, user_scope, alice, add, first, second) -> None:
    add(user_scope, alice, first)
    with pytest.raises(DuplicateName, match=f"looks the same as <{first}>"):
        add(user_scope, alice, second, seed=1)


def test_same_name_keeps_its_own_message(user_scope, alice, add) -> None:
    add(user_scope, alice, "Bo")
    with pytest.raises(DuplicateName, match='"bo" is already in this memory'):
        add(user_scope, alice, "bo", seed=1)


@pytest.mark.parametrize("name", ["b\u200do", "bo\u200d", "\u200dbo", "1\u200d2", "\u200d👩"])
def test_zero_width_joiner_outside_emoji_is_refused(store, user_scope, alice, add, name) -> None:
    with pytest.raises(InvalidName, match=r"zero-width joiner \(U\+200D ZERO WIDTH JOINER\) outside an emoji"):
        add(user_scope, alice, name)
    assert store.list_concepts(user_scope.id, OWNER).total == 0


@pytest.mark.parametrize("name", ["\u202eevil", "bo\u200e", "\u2067bo\u2069", "\u061cbo", "\u202abo\u202c", "\u200fbo"])
def test_bidi_controls_are_refused(store, user_scope, alice, add, name) -> None:
    with pytest.raises(InvalidName, match=r"text-direction controls .*display differently from what it is"):
        add(user_scope, alice, name)
    assert store.list_concepts(user_scope.id, OWNER).total == 0


def test_right_to_left_override_message_names_the_character(user_scope, alice, add) -> None:
    with pytest.raises(InvalidName) as caught:
        add(user_scope, alice, "\u202eevil")
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in str(caught.value)


@pytest.mark.parametrize("name", ["b\u00ado", "b\u2060o", "\ufeffbo", "bo\U000e0067", "a\u200cb"])
def test_other_invisible_format_characters_are_refused(user_scope, alice, add, name) -> None:
    with pytest.raises(InvalidName, match="invisible formatting characters"):
        add(user_scope, alice, name)


def test_a_name_of_only_invisible_characters_is_refused(user_scope, alice, add) -> None:
    with pytest.raises(InvalidName, match="at least one visible character"):
        add(user_scope, alice, "\u3164")  # HANGUL FILLER: a letter that draws nothing


@pytest.mark.parametrize(
    "name",
    [
        "👨\u200d👩\u200d👧",  # family
        "🏳️\u200d🌈",  # rainbow flag: VS16 before the ZWJ
        "👩🏽\u200d💻",  # skin tone modifier before the ZWJ
        "🏃\u200d♀️",
        "❤️\u200d🔥 mug",
        "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",  # flag of England (tag sequence)
        "🐶 dog",
    ],
)
def test_emoji_and_emoji_zwj_sequences_are_accepted(store, user_scope, alice, add, name) -> None:
    concept = add(user_scope, alice, name)
    assert concept.name == name
    assert store.get(user_scope.id, OWNER, name).id == concept.id


@pytest.mark.parametrize(
    "name",
    [
        "Бобик",  # Cyrillic only
        "собака",
        "Ωμέγα",  # Greek only
        "می\u200cخواهم",  # Persian: ZWNJ between two Arabic-script letters is ordinary spelling
        "क्\u200dष",  # Devanagari: ZWJ after a virama
        "柴犬",
    ],
)
def test_single_script_names_are_accepted(store, user_scope, alice, add, name) -> None:
    assert add(user_scope, alice, name).name == name


def test_cyrillic_only_name_next_to_latin_names(store, user_scope, alice, add) -> None:
    add(user_scope, alice, LATIN_BO)
    add(user_scope, alice, "Бобик", seed=1)
    add(user_scope, alice, "Bobik", seed=2)  # does not look like "Бобик" (the б differs)
    assert store.list_concepts(user_scope.id, OWNER).total == 3


def test_rename_into_a_lookalike_is_refused(store, user_scope, alice, add) -> None:
    add(user_scope, alice, LATIN_BO)
    add(user_scope, alice, "rex", seed=1)
    with pytest.raises(DuplicateName, match="looks the same as <bo>"):
        store.rename(user_scope.id, alice, "rex", CYRILLIC_BO)
    assert store.get(user_scope.id, OWNER, "rex").name == "rex"
    with pytest.raises(InvalidName, match="zero-width joiner"):
        store.rename(user_scope.id, alice, "rex", "r\u200dex")
    with pytest.raises(InvalidName, match="text-direction"):
        store.rename(user_scope.id, alice, "rex", "\u202exer")
    # a concept may take a name that only looks like its own, and then frees its old look
    assert store.rename(user_scope.id, alice, "bo", "b\u041e").name == "b\u041e"  # Cyrillic capital O
    store.rename(user_scope.id, alice, "b\u041e", "pup")
    store.rename(user_scope.id, alice, "rex", CYRILLIC_BO)  # "bo"'s look is free again
    with pytest.raises(DuplicateName, match=f"looks the same as <{CYRILLIC_BO}>"):
        add(user_scope, alice, LATIN_BO, seed=2)


def test_different_memories_may_hold_lookalike_names(store, user_scope, group_scope, alice, add) -> None:
    add(user_scope, alice, LATIN_BO)
    add(group_scope, BOB, CYRILLIC_BO, seed=1)
    other_group = store.scope("telegram", "group", "-200")
    add(other_group, BOB, "BO", seed=2)
    held = store.all_names([user_scope.id, group_scope.id, other_group.id])
    assert sorted((c.scope_id, c.name) for c in held) == [
        (user_scope.id, LATIN_BO),
        (group_scope.id, CYRILLIC_BO),
        (other_group.id, "BO"),
    ]
    # but sharing into a memory that holds a lookalike is refused like any other duplicate
    with pytest.raises(DuplicateName, match=f"looks the same as <{CYRILLIC_BO}>, which is already in that memory"):
        store.share(user_scope.id, group_scope.id, alice, LATIN_BO)


def test_check_name_free(store, user_scope, alice, add) -> None:
    add(user_scope, alice, LATIN_BO)
    store.check_name_free(user_scope.id, "rex")
    with pytest.raises(DuplicateName, match="already in this memory"):
        store.check_name_free(user_scope.id, "BO")
    with pytest.raises(DuplicateName, match="looks the same as <bo>"):
        store.check_name_free(user_scope.id, CYRILLIC_BO)
    with pytest.raises(InvalidName):
        store.check_name_free(user_scope.id, "\u202ebo")


def test_categories_refuse_bidi_controls_too(user_scope, alice, add) -> None:
    with pytest.raises(InvalidCategory, match="text-direction"):
        add(user_scope, alice, "bo", category="\u202egod")


def test_the_database_enforces_one_look_per_memory(store, user_scope, alice, add) -> None:
    """A writer that skips the store's check still cannot store a lookalike: the unique index holds."""
    add(user_scope, alice, LATIN_BO)
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO concepts (scope_id, name, normalised_name, name_skeleton, category, created_by)"
                " VALUES (:scope, :name, :key, :skeleton, 'dog', 'alice')"
            ),
            {
                "scope": user_scope.id,
                "name": CYRILLIC_BO,
                "key": v.name_key(CYRILLIC_BO),
                "skeleton": v.name_skeleton(CYRILLIC_BO),
            },
        )


def test_skeleton_is_case_insensitive_and_ignores_width() -> None:
    assert v.name_skeleton("Bo") == v.name_skeleton("ＢＯ") == v.name_skeleton(CYRILLIC_BO) == "bo"
    assert v.name_skeleton("👨\u200d👩\u200d👧") != v.name_skeleton("bo")
