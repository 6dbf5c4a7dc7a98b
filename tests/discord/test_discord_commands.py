"""Slash commands end to end through discord.py's real command tree: interaction payloads in (see
discord_gateway.py), the real worker client (tiny profile) and a real Postgres behind; assertions
on what the user sees and on what was stored."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import discord_fakes as fake
import pytest
from discord_gateway import FakeDiscord, Person, Refused, Seen, Upload, snowflake

from bot.discord_bot.app import RapBot
from bot.discord_bot.commands import MemoryCommands
from bot.discord_bot.frontend import Frontend
from bot.discord_bot.settings import DiscordSettings
from worker.client import RapClient
from worker.errors import RapError
from worker.schemas import Requester

JPEG = b"\xff\xd8\xff"


def dm(who: Person) -> Requester:
    return Requester(platform="discord", user_id=str(who.id))


async def said(gateway: FakeDiscord, who: Person, command: str, guild: int | None = None, **options: Any) -> Seen:
    seen = await gateway.invoke(who, command, guild, **options)
    assert isinstance(seen, Seen), seen
    return seen


async def remember(gateway: FakeDiscord, who: Person, photo: bytes, name: str = "bo", guild: int | None = None) -> Seen:
    image = Upload(photo, "photo.jpg")
    return await said(
        gateway, who, "remember", guild, name=name, description="my shiba inu, loves chicken", image=image
    )


async def names(client: RapClient, who: Requester) -> list[str]:
    return [c.name for c in (await client.list_concepts(who)).items]


# ---------------------------------------------------------------- remember and browse


async def test_remember_one_subject_then_list_and_show_it(
    gateway: FakeDiscord, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    alice = Person()
    stored = await remember(gateway, alice, photos["rocket"])
    assert str(stored.content).startswith("remembered <bo>") and "my shiba inu" in str(stored.content)
    assert await names(rap_client, dm(alice)) == ["bo"]

    listing = str((await said(gateway, alice, "concepts", page=1)).content)
    assert "<bo>" in listing and "1 remembered" in listing

    shown = await said(gateway, alice, "show", name="<bo>")  # brackets as in questions are accepted
    assert "description: my shiba inu, loves chicken" in str(shown.content)
    assert len(shown.files) == 1 and next(iter(shown.files.values())).startswith(JPEG)


async def test_several_objects_ask_which_one_with_buttons_on_the_numbered_photo(
    gateway: FakeDiscord, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    alice, mallory = Person(), Person()
    asked = await remember(gateway, alice, photos["astronaut"])
    assert "Which one did you mean?" in str(asked.content)
    assert list(asked.files) == ["rapbot-candidates.jpg"] and asked.files["rapbot-candidates.jpg"].startswith(JPEG)
    labels = [button["label"] for button in asked.buttons]
    assert labels[-2:] == ["Whole photo", "Cancel"] and labels[0] == "1"
    assert all(f"{label}. " in str(asked.content) for label in labels[:-2])

    # Someone else cannot choose for alice.
    refused = await gateway.press(mallory, asked, "1")
    assert refused.ephemeral and "someone else" in str(refused.content)
    assert await names(rap_client, dm(alice)) == []

    chosen = await gateway.press(alice, asked, "2")
    assert str(chosen.content).startswith("remembered <bo>")
    detail = await rap_client.show(dm(alice), "bo")
    assert detail.concept.view_count == 1


async def test_cancelling_the_choice_stores_nothing(
    gateway: FakeDiscord, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    alice = Person()
    asked = await remember(gateway, alice, photos["coffee"])
    assert "nothing was stored" in str((await gateway.press(alice, asked, "Cancel")).content)
    assert await names(rap_client, dm(alice)) == []


async def test_addphoto_edit_and_rename(gateway: FakeDiscord, rap_client: RapClient, photos: dict[str, bytes]) -> None:
    alice = Person()
    await remember(gateway, alice, photos["rocket"])

    adding = await said(gateway, alice, "addphoto", name="bo", image=Upload(photos["chelsea"], "cat.jpg"))
    assert "added a photo" in str(adding.content) and "[2 photos]" in str(adding.content)

    editing = await said(gateway, alice, "edit", name="bo", description="my shiba inu, now 3 years old")
    assert "now 3 years old" in str(editing.content)

    assert (await said(gateway, alice, "rename", old="bo", new="bobo")).content == "renamed <bo> to <bobo>"
    detail = await rap_client.show(dm(alice), "bobo")
    assert (detail.concept.view_count, detail.concept.description) == (2, "my shiba inu, now 3 years old")
    assert await names(rap_client, dm(alice)) == ["bobo"]


async def test_addphoto_with_several_attachments_tries_each(
    gateway: FakeDiscord, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    alice = Person()
    await remember(gateway, alice, photos["rocket"])
    await said(gateway, alice, "addphoto", name="bo", image=Upload(photos["chelsea"], "cat.jpg"))
    adding = await said(
        gateway,
        alice,
        "addphoto",
        name="bo",
        image=Upload(photos["chelsea"], "again.jpg"),  # there already: refused on its own
        image2=Upload(photos["coffee"], "cup.jpg"),
    )
    text = str(adding.content)
    assert text.startswith("added 1 of 2 photos to <bo>") and "[3 photos]" in text, text
    assert "photo 1 not added: <bo> already has this photo" in text, text


async def test_forget_asks_first_and_cancel_keeps_it(
    gateway: FakeDiscord, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    alice = Person()
    await remember(gateway, alice, photos["rocket"])

    prompt = await said(gateway, alice, "forget", name="bo")
    assert "Forget <bo>" in str(prompt.content) and [b["label"] for b in prompt.buttons] == ["Forget bo", "Cancel"]
    assert "nothing was changed" in str((await gateway.press(alice, prompt, "Cancel")).content)
    assert await names(rap_client, dm(alice)) == ["bo"]

    prompt = await said(gateway, alice, "forget", name="bo")
    assert (await gateway.press(alice, prompt, "Forget bo")).content == "forgot <bo>"
    assert await names(rap_client, dm(alice)) == []


# ---------------------------------------------------------------- asking


async def test_caption_and_ask_name_what_they_recognise_on_a_labelled_photo(
    gateway: FakeDiscord, photos: dict[str, bytes]
) -> None:
    alice = Person()
    await remember(gateway, alice, photos["rocket"])

    caption = await said(gateway, alice, "caption", image=Upload(photos["rocket"], "again.jpg"))
    assert not caption.ephemeral
    assert "recognised: <bo>" in str(caption.content) and "\x00" not in str(caption.content)
    assert list(caption.files) == ["rapbot-answer.jpg"] and caption.files["rapbot-answer.jpg"].startswith(JPEG)

    asked = await said(
        gateway, alice, "ask", question="what is <bo> doing?", image=Upload(photos["rocket"], "again.jpg")
    )
    assert "recognised: <bo>" in str(asked.content)

    text_only = await said(gateway, alice, "ask", question="what does <bo> like?")
    assert text_only.content and not text_only.ephemeral and not text_only.files


async def test_ask_rapbot_on_a_message_uses_its_photo_and_refuses_one_without(
    cmds: MemoryCommands, gateway: FakeDiscord, photos: dict[str, bytes]
) -> None:
    alice = Person()
    await remember(gateway, alice, photos["rocket"])
    author = fake.user(alice.id)
    with_photo = fake.message(author, "", (fake.attachment(photos["rocket"], "launch.jpg"),))
    it = fake.interaction(author)
    await cmds.ask_about_message(it, with_photo)
    assert "recognised: <bo>" in fake.last(it).content

    it = fake.interaction(author)
    await cmds.ask_about_message(it, fake.message(author, "just words"))
    assert fake.last(it).ephemeral and "no image" in fake.last(it).content
    it.response.defer.assert_not_awaited()


# ---------------------------------------------------------------- bad input changes nothing


async def test_a_file_that_is_not_an_image_is_refused_before_any_work(
    gateway: FakeDiscord, rap_client: RapClient
) -> None:
    alice = Person()
    notes = Upload(b"shopping list", "notes.txt", "text/plain")
    refused = await said(gateway, alice, "remember", snowflake(), name="bo", description="x", image=notes)
    assert refused.how == "response", "refused before deferring"
    assert refused.ephemeral and "'notes.txt' is not an image" in str(refused.content)
    assert await names(rap_client, dm(alice)) == []


async def test_a_too_large_image_is_refused(gateway: FakeDiscord, photos: dict[str, bytes]) -> None:
    refused = await said(gateway, Person(), "caption", image=Upload(photos["rocket"], "huge.jpg", size=50_000_000))
    assert refused.how == "response" and refused.ephemeral and "too large" in str(refused.content)


async def test_an_image_that_is_not_one_is_refused_privately_after_deferring(
    gateway: FakeDiscord, rap_client: RapClient
) -> None:
    alice, guild = Person(), snowflake()
    refused = await said(gateway, alice, "remember", guild, name="bo", description="x", image=Upload(b"<html>"))
    assert refused.how == "followup" and refused.ephemeral and "could not be read as an image" in str(refused.content)
    assert refused.interaction_id in gateway.deleted, "the public thinking message goes away"
    group = Requester(platform="discord", user_id=str(alice.id), chat_kind="group", chat_id=str(guild))
    assert await names(rap_client, group) == []


async def test_unknown_names_get_a_private_answer_and_change_nothing(
    gateway: FakeDiscord, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    alice = Person()
    await remember(gateway, alice, photos["rocket"])
    attempts: dict[str, dict[str, Any]] = {
        "show": {"name": "rex"},
        "edit": {"name": "rex", "description": "a cat"},
        "addphoto": {"name": "rex", "image": Upload(photos["chelsea"], "cat.jpg")},
        "forget": {"name": "rex"},
        "rename": {"old": "rex", "new": "max"},
    }
    for command, options in attempts.items():
        answer = await said(gateway, alice, command, **options)
        content = str(answer.content)
        assert answer.ephemeral and "rex" in content and "/concepts" in content and not answer.buttons, command
    detail = await rap_client.show(dm(alice), "bo")
    assert (await names(rap_client, dm(alice)), detail.concept.view_count) == (["bo"], 1)


async def test_rate_limits_refuse_a_flood_without_doing_it(rap_client: RapClient, photos: dict[str, bytes]) -> None:
    strict = DiscordSettings(sync_commands=False, user_requests_per_minute=2)
    bot = RapBot(Frontend.create(strict, rap_client))
    await bot.add_rapbot_cogs()
    gateway = await FakeDiscord.start(bot)
    alice = Person()
    assert str((await remember(gateway, alice, photos["rocket"], name="a")).content).startswith("remembered")
    assert str((await remember(gateway, alice, photos["rocket"], name="b")).content).startswith("remembered")
    third = await remember(gateway, alice, photos["rocket"], name="c")
    assert third.ephemeral and "try again in" in str(third.content)
    assert await names(rap_client, dm(alice)) == ["a", "b"]
    assert str((await remember(gateway, Person(), photos["rocket"], name="c")).content).startswith("remembered")


# ---------------------------------------------------------------- personal data


async def test_export_is_a_zip_in_a_dm_and_never_in_a_server(gateway: FakeDiscord, photos: dict[str, bytes]) -> None:
    alice = Person()
    await remember(gateway, alice, photos["rocket"])
    in_server = await said(gateway, alice, "export", snowflake())
    assert in_server.ephemeral and "private chat" in str(in_server.content) and not in_server.files

    exported = await said(gateway, alice, "export")
    assert list(exported.files) == ["rapbot-export.zip"]
    with zipfile.ZipFile(io.BytesIO(exported.files["rapbot-export.zip"])) as archive:
        stored = archive.namelist()
    assert any(name.endswith(".json") for name in stored) and any(name.endswith(".jpg") for name in stored)


async def test_forgetme_erases_everything_after_the_owner_confirms(
    gateway: FakeDiscord, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    alice = Person()
    await remember(gateway, alice, photos["rocket"])
    guild = snowflake()
    await remember(gateway, alice, photos["rocket"], name="team rocket", guild=guild)

    assert "private chat" in str((await said(gateway, alice, "forgetme", guild)).content)
    prompt = await said(gateway, alice, "forgetme")
    assert "cannot be undone" in str(prompt.content) and "/forgetme confirm" not in str(prompt.content)

    refused = await gateway.press(Person(), prompt, "Erase everything")
    assert refused.ephemeral
    assert await names(rap_client, dm(alice)) == ["bo"]

    erased = await gateway.press(alice, prompt, "Erase everything")
    assert str(erased.content).startswith("erased: 2 concept(s)")
    group = Requester(platform="discord", user_id=str(alice.id), chat_kind="group", chat_id=str(guild))
    assert await names(rap_client, dm(alice)) == []
    assert await names(rap_client, group) == []
    with pytest.raises(RapError):
        await rap_client.show(dm(alice), "bo")


# ---------------------------------------------------------------- autocomplete and expiry


async def test_names_autocomplete_from_the_chats_memory(
    cmds: MemoryCommands, gateway: FakeDiscord, photos: dict[str, bytes]
) -> None:
    alice = Person()
    for name in ("bo", "bobo", "rex"):
        await remember(gateway, alice, photos["rocket"], name=name)
    user = fake.user(alice.id)
    assert [c.value for c in await cmds.scope_names(fake.interaction(user), "bo")] == ["bo", "bobo"]
    assert [c.value for c in await cmds.scope_names(fake.interaction(user), "")] == ["bo", "bobo", "rex"]
    # In a server, the server's names; for /share, the user's own.
    in_guild = fake.interaction(fake.member(alice.id), guild_id=fake.snowflake())
    assert await cmds.scope_names(in_guild, "") == []
    assert [c.value for c in await cmds.own_names(in_guild, "re")] == ["rex"]


async def test_unanswered_buttons_expire_with_a_message(gateway: FakeDiscord) -> None:
    alice = Person()
    prompt = await said(gateway, alice, "forgetme")
    expired = await gateway.timeout(prompt)
    assert expired.how == "edit" and "expired" in str(expired.content) and not expired.buttons


async def test_remember_with_several_photos_stores_one_concept_with_every_photo(
    gateway: FakeDiscord, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    alice = Person()
    first, second = Upload(photos["rocket"], "a.jpg"), Upload(photos["chelsea"], "b.jpg")
    stored = await said(gateway, alice, "remember", name="bo", description="my dog", image=first, image2=second)
    assert str(stored.content).startswith("remembered <bo>") and "2 photos" in str(stored.content)
    assert (await rap_client.show(dm(alice), "bo")).concept.view_count == 2


async def test_server_only_commands_are_not_offered_in_dms(gateway: FakeDiscord) -> None:
    alice = Person()
    assert isinstance(await gateway.invoke(alice, "share", name="bo"), Refused)
    assert isinstance(await gateway.invoke(alice, "memory lock"), Refused)
