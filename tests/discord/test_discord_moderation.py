"""`/memory ...` and locked servers: moderators (Manage Server or the configured role) may, nobody
else may, and a refusal changes nothing."""

from __future__ import annotations

from typing import Any

import discord_fakes as fake
import pytest

from bot.discord_bot.commands import MemoryCommands
from bot.discord_bot.moderation import ModeratorCommands
from worker.client import RapClient
from worker.schemas import Requester

GUILD = 555_000_000_000_000_001


def in_guild(who: Any) -> Requester:
    return Requester(platform="discord", user_id=str(who.id), chat_kind="group", chat_id=str(GUILD), moderator=True)


async def remember(cmds: MemoryCommands, who: Any, photo: bytes, name: str) -> fake.Shown:
    it = fake.interaction(who, GUILD)
    image = fake.attachment(photo, "photo.jpg")
    await cmds.remember.callback(cmds, it, name=name, description="the team's mascot", image=image)
    return fake.last(it)


async def names(client: RapClient, who: Any) -> list[str]:
    return [c.name for c in (await client.list_concepts(in_guild(who))).items]


async def test_members_are_refused_every_moderator_command_and_nothing_changes(
    cmds: MemoryCommands, mods: ModeratorCommands, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    author = fake.member()
    await remember(cmds, author, photos["rocket"], "rocky")
    before = await rap_client.get_settings(in_guild(author))
    member = fake.member(roles=("Gamers",))
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("lock", {}),
        ("unlock", {}),
        ("threshold", {"value": 0.99}),
        ("audit", {"limit": 5}),
        ("purge", {"member": author}),
    ]
    for command, options in attempts:
        it = fake.interaction(member, GUILD)
        await getattr(mods, command).callback(mods, it, **options)
        said = fake.last(it)
        assert said.ephemeral, command
        assert f"Only moderators (members with Manage Server or the Memory Keepers role) can use /memory {command}" in (
            said.content
        )
        it.response.defer.assert_not_awaited()
    assert await rap_client.get_settings(in_guild(author)) == before
    assert await names(rap_client, author) == ["rocky"]


async def test_a_locked_server_refuses_members_writes_but_not_moderators(
    cmds: MemoryCommands, mods: ModeratorCommands, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    owner = fake.member(manage_guild=True)
    keeper = fake.member(roles=("memory keepers",))  # the configured role, any case
    member = fake.member()
    await remember(cmds, member, photos["rocket"], "rocky")

    locking = fake.interaction(owner, GUILD)
    await mods.lock.callback(mods, locking)
    assert "locked: yes" in fake.last(locking).content and not fake.last(locking).ephemeral

    refused = await remember(cmds, member, photos["rocket"], "sneaky")
    assert refused.ephemeral and "Ask a moderator" in refused.content
    editing = fake.interaction(member, GUILD)
    await cmds.edit.callback(cmds, editing, name="rocky", description="vandalised")
    assert fake.last(editing).ephemeral
    forgetting = fake.interaction(member, GUILD)
    await cmds.forget.callback(cmds, forgetting, name="rocky")
    view = fake.last(forgetting).view
    assert view is not None
    confirm = fake.interaction(member, GUILD)
    await view.confirm.callback(confirm)  # type: ignore[attr-defined]
    assert "Ask a moderator" in fake.edited_to(confirm)
    detail = await rap_client.show(in_guild(member), "rocky")
    assert detail.concept.description == "the team's mascot"
    assert await names(rap_client, member) == ["rocky"]

    assert (await remember(cmds, keeper, photos["rocket"], "apollo")).content.startswith("remembered <apollo>")

    unlocking = fake.interaction(keeper, GUILD)
    await mods.unlock.callback(mods, unlocking)
    assert "locked: no" in fake.last(unlocking).content
    assert (await remember(cmds, member, photos["rocket"], "sneaky")).content.startswith("remembered <sneaky>")


async def test_moderators_tune_the_threshold_read_the_audit_and_purge_a_member(
    cmds: MemoryCommands, mods: ModeratorCommands, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    owner = fake.member(manage_guild=True)
    spammer, regular = fake.member(), fake.member()
    await remember(cmds, spammer, photos["rocket"], "spam one")
    await remember(cmds, spammer, photos["rocket"], "spam two")
    await remember(cmds, regular, photos["rocket"], "rocky")

    tuning = fake.interaction(owner, GUILD)
    await mods.threshold.callback(mods, tuning, value=0.42)
    assert "threshold: 0.42" in fake.last(tuning).content
    showing = fake.interaction(owner, GUILD)
    await mods.threshold.callback(mods, showing, value=None)
    assert "threshold: 0.42" in fake.last(showing).content
    assert (await rap_client.get_settings(in_guild(owner))).similarity_threshold == pytest.approx(0.42)

    auditing = fake.interaction(owner, GUILD)
    await mods.audit.callback(mods, auditing, limit=10)
    log = fake.last(auditing)
    assert log.ephemeral and "<spam one>" in log.content and str(spammer.id) in log.content

    purging = fake.interaction(owner, GUILD)
    await mods.purge.callback(mods, purging, member=spammer)
    assert fake.last(purging).content == f"removed 2 concept(s) contributed by {spammer.display_name}."
    assert await names(rap_client, owner) == ["rocky"]


async def test_moderator_commands_in_a_dm_say_they_need_a_server(mods: ModeratorCommands) -> None:
    it = fake.interaction(fake.user())
    await mods.lock.callback(mods, it)
    assert fake.last(it).ephemeral and "only in a group" in fake.last(it).content
