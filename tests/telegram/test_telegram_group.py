"""Groups over HTTP: their own memory, moderators (admins, owner, anonymous admins, promotions),
lock, threshold, audit, purge, share, and when the bot speaks at all."""

from __future__ import annotations

import time

from telegram_fake_api import BOT_USERNAME
from telegram_harness import Harness, button_data
from telegram_updates import Chatter, bot_message, chat_member_update, group_chat

GROUP = -1001234


def setup_group(bot: Harness) -> tuple[Chatter, Chatter, Chatter]:
    """An administrator, the owner and a plain member of GROUP."""
    bot.api.chat_members[(GROUP, 201)] = "administrator"
    bot.api.chat_members[(GROUP, 203)] = "creator"
    return bot.chatter(201, GROUP, "Admin"), bot.chatter(202, GROUP, "Mem"), bot.chatter(203, GROUP, "Owner")


async def remember_whole(bot: Harness, chatter: Chatter, photo: bytes, caption: str) -> list[str]:
    replies = await bot.send(chatter.photo, photo, caption=caption)
    if any("Which one did you mean?" in r for r in replies):
        buttons = dict(button_data(await bot.last_with_keyboard(chatter.chat_id)))
        replies = await bot.send(chatter.press, {}, buttons["whole photo"])
    return replies


async def test_locked_group_refuses_members_but_not_moderators(bot: Harness, photos: dict[str, bytes]) -> None:
    admin, member, owner = setup_group(bot)
    assert "Only moderators can" in (await bot.send(member.text, "/lock"))[0]
    locked = await bot.send(admin.text, "/lock")
    assert "locked: yes" in locked[0]

    refused = await bot.send(member.photo, photos["coffee"], caption="/remember cup: the office cup")
    assert "locked" in refused[0] and "moderator" in refused[0]
    stored = await remember_whole(bot, owner, photos["coffee"], "/remember cup: the office cup")
    assert any("remembered <cup>" in r for r in stored), stored

    assert "locked" in (await bot.send(member.text, "/forget cup"))[0]
    assert "locked" in (await bot.send(member.text, "/edit cup: mine now"))[0]
    assert "<cup>" in (await bot.send(member.text, "/concepts"))[0], "members still read the group memory"

    # The same member, promoted: Telegram's chat_member update takes effect at once, without
    # waiting for the cached "member" answer to expire or asking getChatMember again.
    checks = len(bot.api.calls_to("getChatMember"))
    bot.api.push_update(chat_member_update(GROUP, 202, "member", "administrator"))
    unlocked = await bot.send(member.text, "/unlock")
    assert "locked: no" in unlocked[0]
    assert len(bot.api.calls_to("getChatMember")) == checks


async def test_anonymous_admin_counts_as_moderator(bot: Harness) -> None:
    setup_group(bot)
    anonymous = bot.chatter(1087968824, GROUP, "Group")  # Telegram's GroupAnonymousBot
    message = {
        "message_id": bot.api.next_message_id(),
        "date": int(time.time()),
        "chat": group_chat(GROUP),
        "from": anonymous.user,
        "sender_chat": group_chat(GROUP),
        "text": "/lock",
        "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
    }
    before = len(bot.api.sent_texts(GROUP))
    bot.api.push_update({"message": message})
    assert "locked: yes" in (await bot.api.wait_for_replies(GROUP, before))[0]


async def test_threshold_audit_and_purge(bot: Harness, photos: dict[str, bytes]) -> None:
    admin, member, _ = setup_group(bot)
    assert "threshold:" in (await bot.send(member.text, "/threshold"))[0], "anyone may read the settings"
    assert "Only moderators can" in (await bot.send(member.text, "/threshold 0.5"))[0]
    assert "threshold: 0.50" in (await bot.send(admin.text, "/threshold 0.5"))[0]

    await remember_whole(bot, member, photos["rocket"], "/remember rocky: our rocket")
    members_message = member.text("look at our rocket")  # not addressed to the bot: no reply
    audit = await bot.send(admin.text, "/audit")
    assert "202  add  <rocky>" in audit[0], audit
    assert "Only moderators can" in (await bot.send(member.text, "/audit"))[0]

    assert "Only moderators can" in (await bot.send(member.text, "/purge 202"))[0]
    purged = await bot.send(admin.text, "/purge", reply_to=members_message)
    assert "removed 1 concept(s) contributed by 202" in purged[0]
    assert "I remember nothing" in (await bot.send(admin.text, "/concepts"))[0]


async def test_share_copies_a_private_concept_into_the_group(bot: Harness, photos: dict[str, bytes]) -> None:
    admin, member, _ = setup_group(bot)
    private = bot.chatter(202, name="Mem")
    await remember_whole(bot, private, photos["chelsea"], "/remember bo: my cat")
    # Private memory is never used in the group unless shared.
    assert "I remember nothing" in (await bot.send(admin.text, "/concepts"))[0]
    assert 'There is no "bo"' in (await bot.send(admin.text, "/show bo"))[0]
    shared = await bot.send(member.text, "/share bo")
    assert "shared <bo> into this group" in shared[0]
    listing = await bot.send(admin.text, "/concepts")
    assert "<bo> (" in listing[0] and "my cat" in listing[0]
    assert "works only in a group" in (await bot.send(private.text, "/share bo"))[0]
    assert "private chat" in (await bot.send(member.text, "/export"))[0]
    assert "private chat" in (await bot.send(member.text, "/forgetme"))[0]


async def test_bot_speaks_only_when_addressed(bot: Harness, photos: dict[str, bytes]) -> None:
    admin, member, _ = setup_group(bot)
    member.text("just chatting about <bo>")
    member.photo(photos["coffee"])
    member.text("/help@some_other_bot")
    # A mention and a reply to the bot are addressed to it.
    mentioned = await bot.send(member.text, f"@{BOT_USERNAME} what is in a coffee cup?")
    assert len(mentioned) == 1
    reply = await bot.send(member.text, "and what else?", reply_to=bot_message(group_chat(GROUP), "earlier"))
    assert len(reply) == 1
    assert len(bot.api.sent_texts(GROUP)) == 2, "plain chat, a bare photo and another bot's command get no reply"

    assert "autocaption: on" in (await bot.send(admin.text, "/autocaption on"))[0]
    caption = await bot.send(member.photo, photos["coffee"])
    assert caption[-1].endswith("recognised: none"), "with autocaption on, every photo gets a caption"


async def test_only_the_sender_can_choose_among_candidates(bot: Harness, photos: dict[str, bytes]) -> None:
    _, member, owner = setup_group(bot)
    asked = await bot.send(member.photo, photos["astronaut"], caption="/remember eileen: our astronaut")
    assert any("Which one did you mean?" in r for r in asked), asked
    question = await bot.last_with_keyboard(GROUP)
    first = dict(button_data(question))["1"]
    owner.press(question, first)
    alert = await bot.api.wait_for(
        lambda api: [c for c in api.calls_to("answerCallbackQuery") if c.params.get("show_alert")], what="an alert"
    )
    assert "no photo waiting for your choice" in alert[0].params["text"]
    assert not bot.api.calls_to("editMessageReplyMarkup", GROUP), "the sender's buttons stay"
    chosen = await bot.send(member.press, question, first)
    assert "remembered <eileen>" in chosen[0]
