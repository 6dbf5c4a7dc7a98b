"""`/memory ...` and locked servers, through the real command tree: Discord offers the moderation
commands to moderators only (default permissions) and in servers only; when a server's admin lets
every member see them, the store still refuses members, and a refusal changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from discord_gateway import FakeDiscord, Person, Refused, Seen, Upload

from worker.client import RapClient
from worker.schemas import Requester

GUILD = 555_000_000_000_000_001
KEEPERS = "Memory Keepers"  # the configured moderator role (tests/discord/conftest.py)


def in_guild(who: Person) -> Requester:
    return Requester(platform="discord", user_id=str(who.id), chat_kind="group", chat_id=str(GUILD), moderator=True)


async def said(gateway: FakeDiscord, who: Person, command: str, **options: Any) -> Seen:
    seen = await gateway.invoke(who, command, GUILD, **options)
    assert isinstance(seen, Seen), seen
    return seen


async def remember(gateway: FakeDiscord, who: Person, photo: bytes, name: str) -> Seen:
    return await said(gateway, who, "remember", name=name, description="the team's mascot", image=Upload(photo))


async def names(client: RapClient, who: Person) -> list[str]:
    return [c.name for c in (await client.list_concepts(in_guild(who))).items]


MODERATION: list[tuple[str, dict[str, Any]]] = [
    ("memory lock", {}),
    ("memory unlock", {}),
    ("memory threshold", {"value": 0.99}),
    ("memory autocaption", {"enabled": True}),
    ("memory audit", {"limit": 5}),
    ("memory purge", {"member": None}),  # the author, filled in below
]


async def test_discord_offers_moderation_to_moderators_in_servers_only(gateway: FakeDiscord) -> None:
    member, owner = Person(roles=("Gamers",)), Person(manage_guild=True)
    for command, options in MODERATION:
        options = {**options, "member": member} if "member" in options else options
        assert isinstance(await gateway.invoke(member, command, GUILD, **options), Refused), command
        assert isinstance(await gateway.invoke(owner, command, None, **options), Refused), f"{command} in a DM"
    assert isinstance(await gateway.invoke(owner, "memory lock", GUILD), Seen)


async def test_members_the_admin_let_see_moderation_are_refused_by_the_store_and_nothing_changes(
    gateway: FakeDiscord, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    gateway.everyone_sees_moderation = True
    author = Person()
    await remember(gateway, author, photos["rocket"], "rocky")
    before = await rap_client.get_settings(in_guild(author))
    member = Person(roles=("Gamers",))
    for command, options in MODERATION:
        options = {**options, "member": author} if "member" in options else options
        refused = await said(gateway, member, command, **options)
        assert refused.ephemeral, command
        assert "Only moderators can" in str(refused.content) and "Ask a moderator" in str(refused.content), command
    assert await rap_client.get_settings(in_guild(author)) == before
    assert await names(rap_client, author) == ["rocky"]


async def test_a_locked_server_refuses_members_writes_but_not_moderators(
    gateway: FakeDiscord, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    owner = Person(manage_guild=True)
    keeper = Person(roles=("memory keepers",))  # the configured role, any case
    member = Person()
    await remember(gateway, member, photos["rocket"], "rocky")

    locking = await said(gateway, owner, "memory lock")
    assert "locked: yes" in str(locking.content) and not locking.ephemeral

    refused = await remember(gateway, member, photos["rocket"], "sneaky")
    assert refused.ephemeral and "Ask a moderator" in str(refused.content)
    editing = await said(gateway, member, "edit", name="rocky", description="vandalised")
    assert editing.ephemeral and "locked" in str(editing.content)
    forgetting = await said(gateway, member, "forget", name="rocky")
    assert forgetting.ephemeral and "locked" in str(forgetting.content) and not forgetting.buttons
    detail = await rap_client.show(in_guild(member), "rocky")
    assert detail.concept.description == "the team's mascot"
    assert await names(rap_client, member) == ["rocky"]

    stored = await remember(gateway, keeper, photos["rocket"], "apollo")
    assert str(stored.content).startswith("remembered <apollo>")

    # Discord offers /memory to the keepers' role only once the server's admin allows it.
    assert isinstance(await gateway.invoke(keeper, "memory unlock", GUILD), Refused)
    gateway.everyone_sees_moderation = True
    assert "locked: no" in str((await said(gateway, keeper, "memory unlock")).content)
    assert str((await remember(gateway, member, photos["rocket"], "sneaky")).content).startswith("remembered <sneaky>")


async def test_moderators_tune_the_threshold_read_the_audit_and_purge_a_member(
    gateway: FakeDiscord, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    owner = Person(manage_guild=True)
    spammer, regular = Person(), Person()
    await remember(gateway, spammer, photos["rocket"], "spam one")
    await remember(gateway, spammer, photos["rocket"], "spam two")
    await remember(gateway, regular, photos["rocket"], "rocky")

    assert "threshold: 0.42" in str((await said(gateway, owner, "memory threshold", value=0.42)).content)
    assert "threshold: 0.42" in str((await said(gateway, owner, "memory threshold")).content)
    assert (await rap_client.get_settings(in_guild(owner))).similarity_threshold == pytest.approx(0.42)
    assert "autocaption: on" in str((await said(gateway, owner, "memory autocaption", enabled=True)).content)

    log = await said(gateway, owner, "memory audit", limit=10)
    assert log.ephemeral and "<spam one>" in str(log.content) and str(spammer.id) in str(log.content)

    purged = await said(gateway, owner, "memory purge", member=spammer)
    assert purged.content == f"removed 2 concept(s) contributed by {spammer.display_name}."
    assert await names(rap_client, owner) == ["rocky"]


async def test_option_ranges_are_discords_own(gateway: FakeDiscord) -> None:
    owner = Person(manage_guild=True)
    assert isinstance(await gateway.invoke(owner, "memory threshold", GUILD, value=1.5), Refused)
    assert isinstance(await gateway.invoke(owner, "memory audit", GUILD, limit=51), Refused)
    assert isinstance(await gateway.invoke(owner, "concepts", GUILD, page=0), Refused)
    assert isinstance(await gateway.invoke(owner, "show", GUILD, name="x" * 65), Refused)
