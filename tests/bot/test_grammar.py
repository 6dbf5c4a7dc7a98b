"""The shared command grammar: what each frontend's users type, and what they get back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.grammar import (
    AddPhoto,
    Audit,
    AutoCaption,
    Choose,
    Command,
    Edit,
    Export,
    Forget,
    ForgetMe,
    Help,
    ListConcepts,
    Lock,
    OtherBot,
    ParseError,
    Purge,
    Question,
    Recategorise,
    Remember,
    Rename,
    Share,
    Show,
    Start,
    Threshold,
    Unlock,
    clean_name,
    format_command,
    parse,
)

GOLDEN: list[tuple[str, Command]] = [
    ("/remember bo: my shiba inu, loves chicken", Remember("bo", "my shiba inu, loves chicken")),
    ("/remember <bo>: my shiba inu", Remember("bo", "my shiba inu")),
    ("/remember  Mr   Fluffy :  a grey cat ", Remember("Mr Fluffy", "a grey cat")),
    ("/remember 小白：我的猫", Remember("小白", "我的猫")),
    ("/remember 🐶 dog: the emoji one", Remember("🐶 dog", "the emoji one")),
    ("/remember bo:", Remember("bo", "")),
    ("/remember bo: time: 3pm walks", Remember("bo", "time: 3pm walks")),
    ("/remember bo:\nline one\nline two", Remember("bo", "line one\nline two")),
    ("/REMEMBER bo: x", Remember("bo", "x")),
    ("/remember@rapbot bo: x", Remember("bo", "x")),
    ("/forget <bo>", Forget("bo")),
    ("/forget Mr Fluffy", Forget("Mr Fluffy")),
    ("/concepts", ListConcepts(1)),
    ("/concepts 3", ListConcepts(3)),
    ("/show bo", Show("bo")),
    ("/edit bo: now 3 years old", Edit("bo", "now 3 years old")),
    ("/rename bo: <bobo>", Rename("bo", "bobo")),
    ("/category bo: dog", Recategorise("bo", "dog")),
    ("/addphoto bo", AddPhoto("bo")),
    ("/share bo", Share("bo")),
    ("/export", Export()),
    ("/forgetme", ForgetMe(False)),
    ("/forgetme confirm", ForgetMe(True)),
    ("/lock", Lock()),
    ("/unlock", Unlock()),
    ("/audit", Audit()),
    ("/audit 5", Audit(5)),
    ("/threshold 0.8", Threshold(0.8)),
    ("/threshold 0,75", Threshold(0.75)),
    ("/threshold", Threshold(None)),
    ("/purge 12345", Purge("12345")),
    ("/purge @alice", Purge("alice")),
    ("/purge <@!42>", Purge("42")),
    ("/autocaption on", AutoCaption(True)),
    ("/autocaption OFF", AutoCaption(False)),
    ("/choose 2", Choose(2)),
    ("/choose whole", Choose("whole")),
    ("/choose cancel", Choose("cancel")),
    ("/choose bo 2", Choose(2, "bo")),
    ("/choose <big bo> whole", Choose("whole", "big bo")),
    ("/help", Help(None)),
    ("/help /remember", Help("remember")),
    ("/start", Start()),
    ("/start deep-link-payload", Start()),
    ("what is <bo> doing?", Question("what is <bo> doing?")),
    ("  ", Question("")),
    ("", Question("")),
    ("/", Question("/")),
]


@pytest.mark.parametrize(("text", "expected"), GOLDEN)
def test_golden_messages_parse_to_their_commands(text: str, expected: Command) -> None:
    assert parse(text, bot_username="rapbot") == expected


ERRORS: list[tuple[str, str]] = [
    ("/remember bo my shiba inu", "needs a colon"),
    ("/remember : a dog", "needs a name"),
    ("/remember <>: a dog", "needs a name"),
    ("/remember", "needs a colon"),
    ("/forget", "needs a name"),
    ("/show   ", "needs a name"),
    ("/edit bo", "needs a colon"),
    ("/edit bo:", "needs the new description"),
    ("/rename bo", "needs a colon"),
    ("/rename bo:", "needs the new name"),
    ("/rename bo: a: b", "cannot contain a colon"),
    ("/concepts two", "not a page number"),
    ("/concepts 0", "not a page number"),
    ("/threshold high", "not a number"),
    ("/threshold 1.5", "between 0 and 1"),
    ("/threshold nan", "between 0 and 1"),
    ("/purge", "needs one member id"),
    ("/purge two people", "needs one member id"),
    ("/autocaption", "needs on or off"),
    ("/autocaption maybe", "needs on or off"),
    ("/choose", "needs a number"),
    ("/choose 0", "not a number"),
    ("/choose first", "not a number"),
    ("/forgetme now", "only the word confirm"),
    ("/lock please", "takes no arguments"),
    ("/export all", "takes no arguments"),
    ("/audit 51", "from 1 to 50"),
    ("/audit all", "from 1 to 50"),
]


@pytest.mark.parametrize(("text", "fragment"), ERRORS)
def test_malformed_commands_explain_what_is_wrong_with_an_example(text: str, fragment: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(text)
    assert fragment in caught.value.message
    assert "usage: /" in caught.value.message  # every known command shows its usage


def test_unknown_command_points_to_help() -> None:
    with pytest.raises(ParseError) as caught:
        parse("/frobnicate bo")
    assert caught.value.message == "unknown command /frobnicate; try /help"


def test_command_for_another_bot_is_left_alone() -> None:
    assert parse("/remember@otherbot bo: x", bot_username="rapbot") == OtherBot("otherbot")
    assert parse("/remember@RapBot bo: x", bot_username="rapbot") == Remember("bo", "x")
    # Unknown commands addressed to another bot are that bot's business, not an error here.
    assert parse("/weather@otherbot", bot_username="rapbot") == OtherBot("otherbot")


def test_custom_prefix_for_text_commands() -> None:
    assert parse("!forget bo", prefix="!") == Forget("bo")
    assert parse("/forget bo", prefix="!") == Question("/forget bo")


def test_clean_name_strips_brackets_and_whitespace_but_keeps_case() -> None:
    assert clean_name("  < Mr\tFluffy >  ") == "Mr Fluffy"
    assert clean_name("Bo") == "Bo"
    assert clean_name("a<b>") == "a<b>"


# ---------------------------------------------------------------- property tests

_name_chars = st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters=":：<>")
names = st.text(_name_chars, min_size=1, max_size=30).map(clean_name).filter(bool)
descriptions = st.text(st.characters(codec="utf-8"), max_size=80).map(str.strip)
nonempty_descriptions = descriptions.filter(bool)

commands: st.SearchStrategy[Command] = st.one_of(
    st.builds(Remember, names, descriptions),
    st.builds(Edit, names, nonempty_descriptions),
    st.builds(Rename, names, names),
    st.builds(Forget, names),
    st.builds(Show, names),
    st.builds(AddPhoto, names),
    st.builds(Share, names),
    st.builds(ListConcepts, st.integers(min_value=1, max_value=10_000)),
    st.builds(Threshold, st.none() | st.floats(min_value=0.0, max_value=1.0)),
    st.builds(Purge, st.from_regex(r"[A-Za-z0-9_.]{1,20}", fullmatch=True)),
    st.builds(AutoCaption, st.booleans()),
    st.builds(Choose, st.integers(min_value=1, max_value=99) | st.sampled_from(["whole", "cancel"]), st.none() | names),
    st.builds(ForgetMe, st.booleans()),
    st.sampled_from([Export(), Lock(), Unlock(), Audit(), Audit(7), Start(), Help(None), Help("remember")]),
)


@given(commands)
def test_every_command_round_trips_through_its_text(cmd: Command) -> None:
    assert parse(format_command(cmd)) == cmd


@given(st.text(max_size=200))
def test_any_text_parses_or_fails_with_a_message(text: str) -> None:
    try:
        result = parse(text)
    except ParseError as err:
        assert err.message.strip()
    else:
        if not text.strip().startswith("/"):
            assert result == Question(text.strip())


@given(names, descriptions)
def test_brackets_around_a_name_are_optional(name: str, description: str) -> None:
    assert parse(f"/remember <{name}>: {description}") == parse(f"/remember {name}: {description}")
