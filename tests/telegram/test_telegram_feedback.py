"""Yes / no buttons under a photo answer, end to end over HTTP: "not <bo>" stops the same
look-alike being called bo, the buttons go once pressed, an answered button only alerts its
presser, and a typed /yes works like the buttons."""

from __future__ import annotations

from telegram_harness import Harness, button_data
from telegram_updates import Chatter


async def remember_whole(bot: Harness, chatter: Chatter, photo: bytes, caption: str) -> None:
    replies = await bot.send(chatter.photo, photo, caption=caption)
    if any("Which one did you mean?" in r for r in replies):
        buttons = button_data(await bot.last_with_keyboard(chatter.chat_id))
        whole = next(data for label, data in buttons if label == "whole photo")
        replies = await bot.send(chatter.press, {}, whole)
    assert any("remembered <bo>" in r for r in replies), replies


async def test_buttons_under_a_photo_answer_teach_the_memory(bot: Harness, photos: dict[str, bytes]) -> None:
    ann = bot.chatter(151)
    await remember_whole(bot, ann, photos["chelsea"], "/remember bo: my tabby cat")

    caption = await bot.send(ann.photo, photos["astronaut"])
    assert "recognised: <bo>" in caption[-1], caption
    answer = await bot.last_with_keyboard(ann.chat_id)
    labels = dict(button_data(answer))
    assert set(labels) == {"yes, <bo>", "not <bo>"}

    rejected = await bot.send(ann.press, answer, labels["not <bo>"])
    assert rejected[-1].startswith("noted: that is not <bo>") and "(photos: 1, 1 negative)" in rejected[-1]
    assert bot.api.calls_to("editMessageReplyMarkup", ann.chat_id), "the buttons go once pressed"

    ann.press(answer, labels["yes, <bo>"])  # the same crop again: answered already
    await bot.api.wait_for(
        lambda api: any(c.params.get("show_alert") for c in api.calls_to("answerCallbackQuery")),
        what="an alert for the presser",
    )
    again = await bot.send(ann.photo, photos["astronaut"])
    assert "<bo>" not in again[-1].split("recognised:")[-1], again

    await bot.send(ann.photo, photos["chelsea"])
    typed = await bot.send(ann.text, "/yes")
    assert "<bo>" in typed[-1] and ("thanks:" in typed[-1] or "already has this photo" in typed[-1]), typed
    shown = await bot.send(ann.text, "/show bo")
    assert any(", 1 negative" in text for text in shown), shown
