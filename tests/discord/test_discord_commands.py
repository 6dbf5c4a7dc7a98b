"""Slash commands end to end: a mocked Interaction in, the real worker client (tiny profile) and a
real Postgres behind; assertions on what the user sees and on what was stored."""

from __future__ import annotations

from typing import Any

import discord_fakes as fake
import pytest

from bot.discord_bot.commands import MemoryCommands
from bot.discord_bot.frontend import Frontend
from bot.discord_bot.settings import DiscordSettings
from bot.discord_bot.views import CandidateView, ConfirmView
from worker.client import RapClient
from worker.errors import RapError
from worker.schemas import Requester

JPEG = b"\xff\xd8\xff"


def dm(who: Any) -> Requester:
    return Requester(platform="discord", user_id=str(who.id))


async def remember(
    cmds: MemoryCommands, who: Any, photo: bytes, name: str = "bo", guild_id: int | None = None
) -> fake.Shown:
    it = fake.interaction(who, guild_id)
    image = fake.attachment(photo, "photo.jpg")
    await cmds.remember.callback(cmds, it, name=name, description="my shiba inu, loves chicken", image=image)
    return fake.last(it)


async def names(client: RapClient, who: Requester) -> list[str]:
    return [c.name for c in (await client.list_concepts(who)).items]


# ---------------------------------------------------------------- remember and browse


async def test_remember_one_subject_then_list_and_show_it(
    cmds: MemoryCommands, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    alice = fake.user()
    said = await remember(cmds, alice, photos["rocket"])
    assert said.content.startswith("remembered <bo>") and "my shiba inu" in said.content
    assert await names(rap_client, dm(alice)) == ["bo"]

    listing = fake.interaction(alice)
    await cmds.concepts.callback(cmds, listing, page=1)
    assert "<bo>" in fake.last(listing).content and "1 remembered" in fake.last(listing).content

    showing = fake.interaction(alice)
    await cmds.show.callback(cmds, showing, name="<bo>")  # brackets as in questions are accepted
    shown = fake.last(showing)
    assert "description: my shiba inu, loves chicken" in shown.content
    assert len(shown.files) == 1 and fake.file_bytes(shown.files[0]).startswith(JPEG)


async def test_several_objects_ask_which_one_with_buttons_on_the_numbered_photo(
    cmds: MemoryCommands, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    alice, mallory = fake.user(), fake.user()
    asked = await remember(cmds, alice, photos["astronaut"])
    assert "Which one did you mean?" in asked.content
    assert len(asked.files) == 1 and fake.file_bytes(asked.files[0]).startswith(JPEG)
    view = asked.view
    assert isinstance(view, CandidateView)
    labels = [item.label for item in view.children if isinstance(item, fake.discord.ui.Button)]
    assert labels[-2:] == ["Whole photo", "Cancel"] and labels[0] == "1"
    assert all(f"{label}. " in asked.content for label in labels[:-2])

    # Someone else cannot choose for alice.
    stranger = fake.interaction(mallory)
    await view.button("1").callback(stranger)
    assert fake.last(stranger).ephemeral and "someone else" in fake.last(stranger).content
    assert await names(rap_client, dm(alice)) == []

    press = fake.interaction(alice)
    await view.button("2").callback(press)
    assert fake.edited_to(press).startswith("remembered <bo>")
    detail = await rap_client.show(dm(alice), "bo")
    assert detail.concept.view_count == 1


async def test_cancelling_the_choice_stores_nothing(
    cmds: MemoryCommands, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    alice = fake.user()
    asked = await remember(cmds, alice, photos["coffee"])
    assert isinstance(asked.view, CandidateView)
    press = fake.interaction(alice)
    await asked.view.button("Cancel").callback(press)
    assert "nothing was stored" in fake.edited_to(press)
    assert await names(rap_client, dm(alice)) == []


async def test_addphoto_edit_and_rename(cmds: MemoryCommands, rap_client: RapClient, photos: dict[str, bytes]) -> None:
    alice = fake.user()
    await remember(cmds, alice, photos["rocket"])

    adding = fake.interaction(alice)
    await cmds.addphoto.callback(cmds, adding, name="bo", image=fake.attachment(photos["chelsea"], "cat.jpg"))
    assert "added a photo" in fake.last(adding).content and "[2 photos]" in fake.last(adding).content

    editing = fake.interaction(alice)
    await cmds.edit.callback(cmds, editing, name="bo", description="my shiba inu, now 3 years old")
    assert "now 3 years old" in fake.last(editing).content

    renaming = fake.interaction(alice)
    await cmds.rename.callback(cmds, renaming, old="bo", new="bobo")
    assert fake.last(renaming).content == "renamed <bo> to <bobo>"
    detail = await rap_client.show(dm(alice), "bobo")
    assert (detail.concept.view_count, detail.concept.description) == (2, "my shiba inu, now 3 years old")
    assert await names(rap_client, dm(alice)) == ["bobo"]


async def test_forget_asks_first_and_cancel_keeps_it(
    cmds: MemoryCommands, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    alice = fake.user()
    await remember(cmds, alice, photos["rocket"])

    asking = fake.interaction(alice)
    await cmds.forget.callback(cmds, asking, name="bo")
    prompt = fake.last(asking)
    assert "Forget <bo>" in prompt.content and isinstance(prompt.view, ConfirmView)
    cancel = fake.interaction(alice)
    await prompt.view.cancel.callback(cancel)
    assert "nothing was changed" in fake.edited_to(cancel)
    assert await names(rap_client, dm(alice)) == ["bo"]

    asking = fake.interaction(alice)
    await cmds.forget.callback(cmds, asking, name="bo")
    view = fake.last(asking).view
    assert isinstance(view, ConfirmView)
    confirm = fake.interaction(alice)
    await view.confirm.callback(confirm)
    assert fake.edited_to(confirm) == "forgot <bo>"
    assert await names(rap_client, dm(alice)) == []


# ---------------------------------------------------------------- asking


async def test_caption_and_ask_name_what_they_recognise_on_a_labelled_photo(
    cmds: MemoryCommands, photos: dict[str, bytes]
) -> None:
    alice = fake.user()
    await remember(cmds, alice, photos["rocket"])

    captioning = fake.interaction(alice)
    await cmds.caption.callback(cmds, captioning, image=fake.attachment(photos["rocket"], "again.jpg"))
    caption = fake.last(captioning)
    assert not caption.ephemeral
    assert "recognised: <bo>" in caption.content
    assert len(caption.files) == 1 and fake.file_bytes(caption.files[0]).startswith(JPEG)
    assert "\x00" not in caption.content

    asking = fake.interaction(alice)
    image = fake.attachment(photos["rocket"], "again.jpg")
    await cmds.ask.callback(cmds, asking, question="what is <bo> doing?", image=image)
    assert "recognised: <bo>" in fake.last(asking).content

    text_only = fake.interaction(alice)
    await cmds.ask.callback(cmds, text_only, question="what does <bo> like?", image=None)
    answer = fake.last(text_only)
    assert answer.content and not answer.ephemeral and answer.files == []


async def test_ask_rapbot_on_a_message_uses_its_photo_and_refuses_one_without(
    cmds: MemoryCommands, photos: dict[str, bytes]
) -> None:
    alice = fake.user()
    await remember(cmds, alice, photos["rocket"])
    with_photo = fake.message(alice, "", (fake.attachment(photos["rocket"], "launch.jpg"),))
    it = fake.interaction(alice)
    await cmds.ask_about_message(it, with_photo)
    assert "recognised: <bo>" in fake.last(it).content

    plain = fake.message(alice, "just words")
    it = fake.interaction(alice)
    await cmds.ask_about_message(it, plain)
    assert fake.last(it).ephemeral and "no image" in fake.last(it).content
    it.response.defer.assert_not_awaited()


# ---------------------------------------------------------------- bad input changes nothing


async def test_a_file_that_is_not_an_image_is_refused_before_any_work(
    cmds: MemoryCommands, rap_client: RapClient
) -> None:
    alice = fake.user()
    it = fake.interaction(alice, guild_id=fake.snowflake())
    notes = fake.attachment(b"shopping list", "notes.txt", "text/plain")
    await cmds.remember.callback(cmds, it, name="bo", description="x", image=notes)
    said = fake.last(it)
    assert said.ephemeral and "'notes.txt' is not an image" in said.content
    it.response.defer.assert_not_awaited()
    assert await names(rap_client, dm(alice)) == []


async def test_a_too_large_image_is_refused(
    cmds: MemoryCommands, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    alice = fake.user()
    it = fake.interaction(alice)
    huge = fake.attachment(photos["rocket"], "huge.jpg", size=50_000_000)
    await cmds.caption.callback(cmds, it, image=huge)
    assert fake.last(it).ephemeral and "too large" in fake.last(it).content
    it.response.defer.assert_not_awaited()


async def test_an_image_that_is_not_one_is_refused_privately_after_deferring(
    cmds: MemoryCommands, rap_client: RapClient
) -> None:
    alice = fake.user()
    guild = fake.snowflake()
    it = fake.interaction(fake.member(alice.id), guild_id=guild)
    await cmds.remember.callback(cmds, it, name="bo", description="x", image=fake.attachment(b"<html>", "bo.jpg"))
    said = fake.last(it)
    assert said.ephemeral and "could not be read as an image" in said.content
    it.delete_original_response.assert_awaited_once()  # the public "thinking…" goes away
    group = Requester(platform="discord", user_id=str(alice.id), chat_kind="group", chat_id=str(guild))
    assert await names(rap_client, group) == []


async def test_unknown_names_get_a_private_answer_and_change_nothing(
    cmds: MemoryCommands, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    alice = fake.user()
    await remember(cmds, alice, photos["rocket"])
    attempts: dict[str, dict[str, Any]] = {
        "show": {"name": "rex"},
        "edit": {"name": "rex", "description": "a cat"},
        "addphoto": {"name": "rex", "image": fake.attachment(photos["chelsea"], "cat.jpg")},
        "forget": {"name": "rex"},
        "rename": {"old": "rex", "new": "max"},
    }
    for command, options in attempts.items():
        it = fake.interaction(alice)
        await getattr(cmds, command).callback(cmds, it, **options)
        said = fake.last(it)
        assert said.ephemeral and "rex" in said.content and "/concepts" in said.content and said.view is None, command
    detail = await rap_client.show(dm(alice), "bo")
    assert (await names(rap_client, dm(alice)), detail.concept.view_count) == (["bo"], 1)


async def test_rate_limits_refuse_a_flood_without_doing_it(rap_client: RapClient, photos: dict[str, bytes]) -> None:
    strict = DiscordSettings(sync_commands=False, user_requests_per_minute=2)
    cmds = MemoryCommands(Frontend.create(strict, rap_client))
    alice = fake.user()
    assert (await remember(cmds, alice, photos["rocket"], name="a")).content.startswith("remembered")
    assert (await remember(cmds, alice, photos["rocket"], name="b")).content.startswith("remembered")
    third = await remember(cmds, alice, photos["rocket"], name="c")
    assert third.ephemeral and "try again in" in third.content
    assert await names(rap_client, dm(alice)) == ["a", "b"]
    assert (await remember(cmds, fake.user(), photos["rocket"], name="c")).content.startswith("remembered")


# ---------------------------------------------------------------- personal data


async def test_export_is_a_private_zip(cmds: MemoryCommands, photos: dict[str, bytes]) -> None:
    alice = fake.user()
    await remember(cmds, alice, photos["rocket"])
    it = fake.interaction(fake.member(alice.id), guild_id=fake.snowflake())
    await cmds.export.callback(cmds, it)
    said = fake.last(it)
    assert said.ephemeral and len(said.files) == 1
    assert said.files[0].filename == "rapbot-export.zip"
    assert any(name.endswith(".json") for name in fake.zip_names(said.files[0]))
    assert any(name.endswith(".jpg") for name in fake.zip_names(said.files[0]))


async def test_forgetme_erases_everything_after_the_owner_confirms(
    cmds: MemoryCommands, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    alice = fake.user()
    await remember(cmds, alice, photos["rocket"])
    guild = fake.snowflake()
    await remember(cmds, fake.member(alice.id), photos["rocket"], name="team rocket", guild_id=guild)

    it = fake.interaction(alice)
    await cmds.forgetme.callback(cmds, it)
    prompt = fake.last(it)
    assert "cannot be undone" in prompt.content and isinstance(prompt.view, ConfirmView)

    stranger = fake.interaction(fake.user())
    await prompt.view.confirm.callback(stranger)
    assert fake.last(stranger).ephemeral
    assert await names(rap_client, dm(alice)) == ["bo"]

    confirm = fake.interaction(alice)
    await prompt.view.confirm.callback(confirm)
    assert fake.edited_to(confirm).startswith("erased: 2 concept(s)")
    group = Requester(platform="discord", user_id=str(alice.id), chat_kind="group", chat_id=str(guild))
    assert await names(rap_client, dm(alice)) == []
    assert await names(rap_client, group) == []
    with pytest.raises(RapError):
        await rap_client.show(dm(alice), "bo")


# ---------------------------------------------------------------- autocomplete


async def test_names_autocomplete_from_the_chats_memory(
    cmds: MemoryCommands, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    alice = fake.user()
    await remember(cmds, alice, photos["rocket"], name="bo")
    await remember(cmds, alice, photos["rocket"], name="bobo")
    await remember(cmds, alice, photos["rocket"], name="rex")
    choices = await cmds.scope_names(fake.interaction(alice), "bo")
    assert [c.value for c in choices] == ["bo", "bobo"]
    assert [c.value for c in await cmds.scope_names(fake.interaction(alice), "")] == ["bo", "bobo", "rex"]
    # In a server, the server's names; for /share, the user's own.
    in_guild = fake.interaction(fake.member(alice.id), guild_id=fake.snowflake())
    assert await cmds.scope_names(in_guild, "") == []
    assert [c.value for c in await cmds.own_names(in_guild, "re")] == ["rex"]


async def test_unanswered_buttons_expire_with_a_message(cmds: MemoryCommands) -> None:
    alice = fake.user()
    it = fake.interaction(alice)
    await cmds.forgetme.callback(cmds, it)
    view = fake.last(it).view
    assert isinstance(view, ConfirmView)
    await view.on_timeout()
    assert "expired" in str(it.edit_original_response.await_args.kwargs["content"])
    assert it.edit_original_response.await_args.kwargs["view"] is None


async def test_remember_with_several_photos_stores_one_concept_with_every_photo(
    cmds: MemoryCommands, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    alice = fake.user()
    it = fake.interaction(alice)
    first, second = fake.attachment(photos["rocket"], "a.jpg"), fake.attachment(photos["chelsea"], "b.jpg")
    await cmds.remember.callback(cmds, it, name="bo", description="my dog", image=first, image2=second)
    said = fake.last(it)
    assert said.content.startswith("remembered <bo>") and "2 photos" in said.content
    assert (await rap_client.show(dm(alice), "bo")).concept.view_count == 2
