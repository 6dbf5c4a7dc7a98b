"""A private chat, end to end over HTTP: remember, recognise, ask, list, show, edit, forget,
the candidate keyboard, albums, export and erasure."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from telegram_harness import Harness, button_data
from telegram_updates import Chatter


async def remember_whole(bot: Harness, chatter: Chatter, photo: bytes, caption: str) -> list[str]:
    """Remember from a photo; when the bot asks which object, take the whole photo."""
    replies = await bot.send(chatter.photo, photo, caption=caption)
    if any("Which one did you mean?" in r for r in replies):
        buttons = button_data(await bot.last_with_keyboard(chatter.chat_id))
        whole = next(data for label, data in buttons if label == "whole photo")
        replies = await bot.send(chatter.press, {}, whole)
    return replies


async def test_menus_are_registered_at_start(bot: Harness) -> None:
    await bot.api.wait_for(lambda api: len(api.calls_to("setMyCommands")) == 3, what="three menus")
    menus = {
        str(call.params.get("scope", {}).get("type", "default")): {c["command"] for c in call.params["commands"]}
        for call in bot.api.calls_to("setMyCommands")
    }
    assert {"help", "remember", "concepts", "forget", "export", "forgetme"} <= menus["default"]
    assert "share" in menus["all_group_chats"] and "lock" not in menus["all_group_chats"]
    assert {"lock", "unlock", "purge", "audit"} <= menus["all_chat_administrators"]


async def test_start_and_help_answer(bot: Harness) -> None:
    ann = bot.chatter(101)
    assert "/remember bo:" in (await bot.send(ann.text, "/start"))[0]
    help_text = (await bot.send(ann.text, "/help"))[0]
    assert "/concepts" in help_text and "/forget bo" in help_text


async def test_remember_recognise_ask_and_forget(bot: Harness, photos: dict[str, bytes]) -> None:
    ann = bot.chatter(102)
    replies = await remember_whole(bot, ann, photos["chelsea"], "/remember bo: my tabby cat, loves tuna")
    assert any("remembered <bo>" in r for r in replies), replies
    assert bot.api.calls_to("sendChatAction", ann.chat_id), "no typing indicator while working"

    # The same cat in a new message, no command: a personalised caption that names bo.
    caption = await bot.send(ann.photo, photos["chelsea"])
    assert "recognised: <bo>" in caption[-1], caption
    annotated = bot.api.calls_to("sendPhoto", ann.chat_id)[-1]
    assert annotated.params["caption"] == caption[-1] and annotated.files, "the photo comes back with bo's box"

    # A question naming <bo> without a photo: a text-only answer that used the concept.
    answer = await bot.send(ann.text, "what does <bo> like?")
    assert answer and "Which one" not in answer[0]

    listing = await bot.send(ann.text, "/concepts")
    assert "<bo> (" in listing[0] and "my tabby cat, loves tuna" in listing[0]

    edited = await bot.send(ann.text, "/edit bo: my tabby cat, loves salmon now")
    assert "loves salmon now" in edited[0]
    renamed = await bot.send(ann.text, "/rename bo: bobo")
    assert "renamed <bo> to <bobo>" in renamed[0]

    shown = await bot.send(ann.text, "/show bobo")
    assert "description: my tabby cat, loves salmon now" in shown[-1]
    assert bot.api.calls_to("sendPhoto", ann.chat_id), "/show sends the stored crop"

    confirm = await bot.send(ann.text, "/forget bobo")
    assert "Forget <bobo>" in confirm[0]
    buttons = dict(button_data(await bot.last_with_keyboard(ann.chat_id)))
    done = await bot.send(ann.press, {}, buttons["forget bobo"])
    assert "forgot <bobo>" in done[0]
    assert "I remember nothing" in (await bot.send(ann.text, "/concepts"))[0]


async def test_forget_keep_button_changes_nothing(bot: Harness, photos: dict[str, bytes]) -> None:
    ann = bot.chatter(103)
    await remember_whole(bot, ann, photos["coffee"], "/remember cup: my coffee cup")
    await bot.send(ann.text, "/forget cup")
    buttons = dict(button_data(await bot.last_with_keyboard(ann.chat_id)))
    kept = await bot.send(ann.press, {}, buttons["keep"])
    assert "nothing was changed" in kept[0]
    assert "<cup>" in (await bot.send(ann.text, "/concepts"))[0]
    # The same button again does nothing: it was used up.
    bot.api.calls.clear()
    ann.press({}, buttons["forget cup"])
    await bot.api.wait_for(lambda api: api.calls_to("answerCallbackQuery"), what="the button answer")
    assert "<cup>" in (await bot.send(ann.text, "/concepts"))[0]


async def test_remember_as_reply_to_a_photo_and_addphoto(bot: Harness, photos: dict[str, bytes]) -> None:
    ann = bot.chatter(104)
    photo_message = ann.photo(photos["rocket"])
    await bot.api.wait_for(lambda api: api.sent_texts(ann.chat_id), what="the caption of the photo")
    replies = await bot.send(ann.text, "/remember rocky: the rocket on the pad", reply_to=photo_message)
    if any("Which one did you mean?" in r for r in replies):
        buttons = dict(button_data(await bot.last_with_keyboard(ann.chat_id)))
        replies = await bot.send(ann.press, {}, buttons["whole photo"])
    assert any("remembered <rocky>" in r for r in replies), replies
    added = await bot.send(ann.photo, photos["chelsea"], caption="/addphoto rocky")  # another photo of it
    assert "added a photo to <rocky>" in added[0] and "[2 photos]" in added[0]


async def test_candidate_choice_with_the_inline_keyboard(bot: Harness, photos: dict[str, bytes]) -> None:
    ann = bot.chatter(105)
    replies = await bot.send(ann.photo, photos["astronaut"], caption="/remember eileen: an astronaut")
    assert any("Which one did you mean?" in r for r in replies), replies
    question = await bot.last_with_keyboard(ann.chat_id)
    labels = [label for label, _ in button_data(question)]
    assert labels[0] == "1" and labels[-2:] == ["whole photo", "cancel"]
    sent_photo = bot.api.calls_to("sendPhoto", ann.chat_id)[-1]
    assert sent_photo.files, "the numbered boxes come as an annotated photo"
    first = dict(button_data(question))["1"]
    chosen = await bot.send(ann.press, question, first)
    assert any("remembered <eileen>" in r for r in chosen), chosen
    assert bot.api.calls_to("editMessageReplyMarkup", ann.chat_id), "the used keyboard is removed"
    # Pressing the same (now stale) button again stores nothing more and says so to the presser.
    ann.press(question, first)
    alert = await bot.api.wait_for(
        lambda api: [c for c in api.calls_to("answerCallbackQuery") if c.params.get("show_alert")], what="an alert"
    )
    assert "no photo waiting for your choice" in alert[0].params["text"]
    assert "1 remembered" in (await bot.send(ann.text, "/concepts"))[0]


async def test_a_second_remember_keeps_the_first_waiting(bot: Harness, photos: dict[str, bytes]) -> None:
    ann = bot.chatter(107)
    first = await bot.send(ann.photo, photos["astronaut"], caption="/remember eileen: an astronaut")
    assert any("this photo for <eileen>. Which one did you mean?" in r for r in first), first
    second = await bot.send(ann.photo, photos["coffee"], caption="/remember cup: my mug")
    if any("Which one did you mean?" in r for r in second):  # both wait: the later one says so
        assert any("this photo for <cup>" in r and "also waiting for your choice: <eileen>" in r for r in second)
        assert any("remembered <cup>" in r for r in await bot.send(ann.text, "/choose whole"))
    chosen = await bot.send(ann.text, "/choose eileen whole")
    assert any("remembered <eileen>" in r for r in chosen), chosen
    assert "2 remembered" in (await bot.send(ann.text, "/concepts"))[0]


async def test_typed_cancel_stores_nothing(bot: Harness, photos: dict[str, bytes]) -> None:
    ann = bot.chatter(106)
    replies = await bot.send(ann.photo, photos["astronaut"], caption="/remember eileen: an astronaut")
    assert any("Which one did you mean?" in r for r in replies), replies
    question = await bot.last_with_keyboard(ann.chat_id)
    assert "cancel" in dict(button_data(question))
    cancelled = await bot.send(ann.text, "/choose cancel")  # typing the choice works like the buttons
    assert "nothing was stored" in cancelled[0]
    assert "I remember nothing" in (await bot.send(ann.text, "/concepts"))[0]


async def test_album_makes_one_concept_with_every_photo(bot: Harness, photos: dict[str, bytes]) -> None:
    ann = bot.chatter(107)
    before = len(bot.api.sent_texts(ann.chat_id))
    ann.photo(photos["chelsea"], caption="/remember kitty: two photos of my cat", media_group_id="album1")
    ann.photo(photos["chelsea_png"], media_group_id="album1")
    replies = await bot.api.wait_for_replies(ann.chat_id, before)
    assert "remembered <kitty>" in replies[0] and "[2 photos]" in replies[0], replies
    listing = await bot.send(ann.text, "/concepts")
    assert listing[0].startswith("1 remembered")
    before = len(bot.api.sent_texts(ann.chat_id))
    ann.photo(photos["coffee"], caption="/addphoto kitty", media_group_id="album2")
    ann.photo(photos["rocket"], media_group_id="album2")
    added = await bot.api.wait_for_replies(ann.chat_id, before)
    assert "added 2 photos to <kitty>" in added[0] and "[4 photos]" in added[0], added


async def test_two_users_never_see_each_others_concepts(bot: Harness, photos: dict[str, bytes]) -> None:
    ann, bob = bot.chatter(108, name="Ann"), bot.chatter(109, name="Bob")
    await remember_whole(bot, ann, photos["chelsea"], "/remember bo: ann's cat")
    assert "I remember nothing" in (await bot.send(bob.text, "/concepts"))[0]
    assert 'There is no "bo"' in (await bot.send(bob.text, "/show bo"))[0]
    caption = await bot.send(bob.photo, photos["chelsea"])
    assert caption[-1].endswith("recognised: none"), caption
    forget = await bot.send(bob.text, "/forget bo")
    assert 'There is no "bo"' in forget[0]
    assert not bot.api.calls_to("sendMessage", bob.chat_id)[-1].params.get("reply_markup"), "no confirm button"
    assert "<bo>" in (await bot.send(ann.text, "/concepts"))[0]


async def test_export_then_forgetme(bot: Harness, photos: dict[str, bytes]) -> None:
    ann = bot.chatter(110)
    await remember_whole(bot, ann, photos["coffee"], "/remember cup: my coffee cup")
    await bot.send(ann.text, "/export")
    document = bot.api.calls_to("sendDocument", ann.chat_id)[-1]
    archive = zipfile.ZipFile(io.BytesIO(next(iter(document.files.values()))))
    names = archive.namelist()
    assert any(n.endswith(".json") for n in names) and any(n.endswith((".jpg", ".jpeg")) for n in names)
    manifest = next(n for n in names if n.endswith(".json"))
    assert "cup" in json.dumps(json.loads(archive.read(manifest)))

    warning = await bot.send(ann.text, "/forgetme")
    assert "cannot be undone" in warning[0]
    buttons = dict(button_data(await bot.last_with_keyboard(ann.chat_id)))
    erased = await bot.send(ann.press, {}, buttons["erase everything"])
    assert erased[0].startswith("erased: 1 concept(s)")
    assert "I remember nothing" in (await bot.send(ann.text, "/concepts"))[0]


async def test_concepts_pages_with_buttons(bot: Harness, photos: dict[str, bytes]) -> None:
    ann = bot.chatter(111)
    for index in range(3):
        await remember_whole(bot, ann, photos["coffee"], f"/remember cup{index}: cup number {index}")
    bot.application.bot_data["rapbot"].settings.concepts_page_size = 2
    first = await bot.send(ann.text, "/concepts")
    assert "page 1 of 2" in first[0]
    buttons = dict(button_data(await bot.last_with_keyboard(ann.chat_id)))
    second = await bot.send(ann.press, {}, buttons["next »"])
    assert "page 2 of 2" in second[0] and "cup2" in second[0]
    assert bot.api.calls_to("editMessageText", ann.chat_id), "paging edits the list in place"

    # A listing longer than Telegram's 4096 characters arrives in several messages, nothing lost.
    long_descriptions = {f"cup{i}": f"cup {i} " + "with a long story " * 100 for i in range(3)}
    for name, description in long_descriptions.items():
        await bot.send(ann.text, f"/edit {name}: {description}")
    bot.application.bot_data["rapbot"].settings.concepts_page_size = 3
    before = len(bot.api.sent_texts(ann.chat_id))
    ann.text("/concepts")
    await bot.api.wait_for(lambda api: len(api.sent_texts(ann.chat_id)) >= before + 2, what="two pieces")
    listing = bot.api.sent_texts(ann.chat_id)[before:]
    assert len(listing) == 2 and all(len(piece) <= 4096 for piece in listing)
    joined = " ".join(" ".join(piece.split()) for piece in listing)
    assert all(" ".join(d.split()) in joined for d in long_descriptions.values())


@pytest.mark.parametrize("telegram_settings_overrides", [{"annotated_replies": False}])
async def test_annotated_replies_can_be_turned_off(bot: Harness, photos: dict[str, bytes]) -> None:
    ann = bot.chatter(112)
    await remember_whole(bot, ann, photos["chelsea"], "/remember bo: my tabby cat")
    photos_before = len(bot.api.calls_to("sendPhoto", ann.chat_id))
    caption = await bot.send(ann.photo, photos["chelsea"])
    assert "recognised: <bo>" in caption[-1]
    assert len(bot.api.calls_to("sendPhoto", ann.chat_id)) == photos_before, "text only"
