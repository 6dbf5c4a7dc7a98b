"""Isolation, through the real command tree: two users' DMs and two servers never see each other's
concepts; a user's own concept reaches a server only through /share."""

from __future__ import annotations

import discord_fakes as fake
from discord_gateway import FakeDiscord, Person, Refused, Seen, Upload, snowflake

from bot.discord_bot.commands import MemoryCommands


async def said(gateway: FakeDiscord, who: Person, command: str, guild: int | None = None, **options: object) -> Seen:
    seen = await gateway.invoke(who, command, guild, **options)
    assert isinstance(seen, Seen), seen
    return seen


async def test_two_users_dms_never_see_each_others_concepts(
    gateway: FakeDiscord, cmds: MemoryCommands, photos: dict[str, bytes]
) -> None:
    alice, bob = Person(), Person()
    image = Upload(photos["rocket"], "bo.jpg")
    stored = await said(gateway, alice, "remember", name="bo", description="alice's dog", image=image)
    assert stored.content is not None and stored.content.startswith("remembered <bo>")

    assert "remember nothing here yet" in str((await said(gateway, bob, "concepts")).content)
    shown = await said(gateway, bob, "show", name="bo")
    assert 'There is no "bo"' in str(shown.content), shown
    assert "alice's dog" not in str(shown.content) and not shown.files
    caption = await said(gateway, bob, "caption", image=Upload(photos["rocket"], "same.jpg"))
    assert "recognised: none" in str(caption.content)
    assert await cmds.scope_names(fake.interaction(fake.user(bob.id)), "") == []  # autocomplete offers nothing
    # alice still recognises her own bo in the same photo
    mine = await said(gateway, alice, "caption", image=Upload(photos["rocket"], "same.jpg"))
    assert "recognised: <bo>" in str(mine.content)


async def test_two_servers_are_separate_and_private_concepts_enter_only_by_share(
    gateway: FakeDiscord, photos: dict[str, bytes]
) -> None:
    alice = Person()
    first, second = snowflake(), snowflake()
    await said(gateway, alice, "remember", name="bo", description="alice's dog", image=Upload(photos["rocket"]))
    await said(gateway, alice, "remember", first, name="mascot", description="one's", image=Upload(photos["rocket"]))

    assert "remember nothing here yet" in str((await said(gateway, alice, "concepts", second)).content)
    first_list = await said(gateway, alice, "concepts", first)
    assert "<mascot>" in str(first_list.content) and "<bo>" not in str(first_list.content)
    assert first_list.ephemeral  # a list in a server is shown only to who asked
    caption = await said(gateway, alice, "caption", second, image=Upload(photos["rocket"], "c.jpg"))
    assert "recognised: none" in str(caption.content)

    shared = await said(gateway, alice, "share", second, name="bo")
    assert shared.content == "shared <bo> into this group"
    second_list = str((await said(gateway, alice, "concepts", second)).content)
    assert "<bo>" in second_list and "<mascot>" not in second_list
    assert "<bo>" not in str((await said(gateway, alice, "concepts", first)).content)

    # /share is a server command: Discord does not even offer it in a DM.
    assert isinstance(await gateway.invoke(alice, "share", name="bo"), Refused)
