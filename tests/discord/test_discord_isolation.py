"""Isolation: two users' DMs and two servers never see each other's concepts; a user's own
concept reaches a server only through /share."""

from __future__ import annotations

from typing import Any

import discord_fakes as fake

from bot.discord_bot.commands import MemoryCommands


async def run(cmds: MemoryCommands, command: str, who: Any, guild_id: int | None = None, **options: Any) -> fake.Shown:
    it = fake.interaction(who, guild_id)
    await getattr(cmds, command).callback(cmds, it, **options)
    return fake.last(it)


async def test_two_users_dms_never_see_each_others_concepts(cmds: MemoryCommands, photos: dict[str, bytes]) -> None:
    alice, bob = fake.user(), fake.user()
    image = fake.attachment(photos["rocket"], "bo.jpg")
    said = await run(cmds, "remember", alice, name="bo", description="alice's dog", image=image)
    assert said.content.startswith("remembered <bo>")

    assert "remember nothing here yet" in (await run(cmds, "concepts", bob, page=1)).content
    assert "bo" in (await run(cmds, "show", bob, name="bo")).content
    assert (await run(cmds, "show", bob, name="bo")).ephemeral
    caption = await run(cmds, "caption", bob, image=fake.attachment(photos["rocket"], "same.jpg"))
    assert "recognised: none" in caption.content
    assert await cmds.scope_names(fake.interaction(bob), "") == []
    # alice still recognises her own bo in the same photo
    mine = await run(cmds, "caption", alice, image=fake.attachment(photos["rocket"], "same.jpg"))
    assert "recognised: <bo>" in mine.content


async def test_two_servers_are_separate_and_private_concepts_enter_only_by_share(
    cmds: MemoryCommands, photos: dict[str, bytes]
) -> None:
    alice = fake.user()
    alice_in_guild = fake.member(alice.id)
    first, second = fake.snowflake(), fake.snowflake()
    await run(
        cmds, "remember", alice, name="bo", description="alice's dog", image=fake.attachment(photos["rocket"], "a.jpg")
    )
    await run(
        cmds,
        "remember",
        alice_in_guild,
        first,
        name="mascot",
        description="server one's",
        image=fake.attachment(photos["rocket"], "b.jpg"),
    )

    assert "remember nothing here yet" in (await run(cmds, "concepts", alice_in_guild, second, page=1)).content
    first_list = await run(cmds, "concepts", alice_in_guild, first, page=1)
    assert "<mascot>" in first_list.content and "<bo>" not in first_list.content
    assert first_list.ephemeral  # a list in a server is shown only to who asked
    caption = await run(cmds, "caption", alice_in_guild, second, image=fake.attachment(photos["rocket"], "c.jpg"))
    assert "recognised: none" in caption.content

    shared = await run(cmds, "share", alice_in_guild, second, name="bo")
    assert shared.content == "shared <bo> into this group"
    second_list = await run(cmds, "concepts", alice_in_guild, second, page=1)
    assert "<bo>" in second_list.content and "<mascot>" not in second_list.content
    assert "<bo>" not in (await run(cmds, "concepts", alice_in_guild, first, page=1)).content

    in_dm = await run(cmds, "share", alice, name="bo")
    assert in_dm.ephemeral and "works in a server" in in_dm.content
