"""The photo index on the console (docs/index.md): a moderator turns it on, photos posted are
indexed with their file paths, /find finds a concept and a text query, forgetting and /forgetme
follow, another chat sees nothing, and only moderators switch it. Real photos, the tiny profile,
a real Postgres, through the client `rapbot console` builds."""

from __future__ import annotations

from pathlib import Path

from bot.console import ConsoleSession, make_requester
from bot.settings import ConsoleSettings
from worker.client import RapClient


def session(client: RapClient, user: str, group: str | None, admin: bool, out: Path) -> ConsoleSession:
    return ConsoleSession(client, make_requester(user, group, admin), out, ConsoleSettings())


async def test_index_find_forget_on_the_console(
    console_client: RapClient, photos: dict[str, Path], tmp_path: Path
) -> None:
    mod = session(console_client, "ix-alice", "ix-fam", True, tmp_path / "a").handle_line
    member = session(console_client, "ix-bob", "ix-fam", False, tmp_path / "b").handle_line
    stranger = session(console_client, "ix-carol", "ix-other", True, tmp_path / "c").handle_line

    assert (await mod("/index")).startswith("photo index: off")
    assert "Only moderators can turn the photo index on or off" in await member("/index on")
    remembered = await mod(f"/remember bo: our cat @{photos['chelsea']}")
    if "/choose N" in remembered:
        remembered = await mod("/choose whole")
    assert remembered.startswith("remembered <bo>")
    await member(f"@{photos['coffee']}")  # posted before the index was on: never indexed
    assert (await mod("/index on")).startswith("photo index: on")

    await member(f"@{photos['chelsea']}")
    await member(f"@{photos['astronaut']}")
    status = await member("/index")
    assert "photo index: on since" in status and "2 photos" in status, status

    found = await member("/find bo")
    assert found.startswith("<bo> was seen in"), found
    assert str(photos["chelsea"].resolve()) in found and "— <bo>" in found
    assert str(photos["coffee"].resolve()) not in found, "nothing from before the index was on"
    ranked = await member("/find bo in the grass")
    assert (
        ranked.startswith("Photos like <bo> in the grass, best first:") and str(photos["chelsea"].resolve()) in ranked
    )
    plain = await member("/find a cup of coffee")
    assert plain.startswith("Photos like “a cup of coffee”, best first:")
    assert plain.count("\n") == 2, "both indexed photos, ranked by CLIP text similarity"

    # Another chat's members see nothing of it.
    assert "photo index is off and empty" in await stranger("/find bo")
    assert 'There is no "bo"' in await stranger("/find <bo>")
    assert (await stranger("/index on")).startswith("photo index: on")
    assert (await stranger("/find a cup of coffee")).startswith("No indexed photo shows “a cup of coffee” yet.")

    # Forgetting bo drops its recognitions; the photos stay indexed without it.
    await mod("/forget bo")
    assert 'There is no "bo"' in await member("/find <bo>")
    assert "<bo>" not in await member("/find bo"), "a plain text search now"
    after = await member("/find a cat")
    assert after.count("\n") == 2 and "<bo>" not in after

    # Off stops indexing and offers to delete; /forgetme removes the photos bob posted.
    off = await mod("/index off")
    assert "not indexed" in off and "It still holds 2 photos: /index delete removes them." in off
    await member(f"@{photos['coffee']}")
    assert "2 photos" in await mod("/index")
    bob_alone = session(console_client, "ix-bob", None, False, tmp_path / "b2").handle_line
    await bob_alone("/forgetme confirm")
    assert "It still holds" not in await mod("/index")
    assert "Only moderators can" in await member("/index delete")
    assert (await mod("/index delete")).startswith("Deleted 0 photos")


async def test_a_private_memory_indexes_for_its_owner(
    console_client: RapClient, photos: dict[str, Path], tmp_path: Path
) -> None:
    own = session(console_client, "ix-dan", None, False, tmp_path / "d").handle_line
    assert (await own("/index on")).startswith("photo index: on")
    assert "kept 30 days" in await own("/index keep 30")
    assert "small thumbnails kept" in await own("/index thumbnails on")
    await own(f"@{photos['coffee']}")
    found = await own("/find a cup")
    assert str(photos["coffee"].resolve()) in found
    assert "photo index: off" in await own("/index off")


async def test_lookalikes_are_named_when_remembered_and_when_found(
    console_client: RapClient, photos: dict[str, Path], tmp_path: Path
) -> None:
    own = session(console_client, "ix-erin", None, False, tmp_path / "e").handle_line

    async def remember(line: str) -> str:
        reply = await own(line)
        return await own("/choose whole") if "/choose N" in reply else reply

    first = await remember(f"/remember bo: my cat @{photos['chelsea']}")
    assert first.startswith("remembered <bo>") and "Careful" not in first
    # The very same cat under another name: its photo would be recognised as bo.
    second = await remember(f"/remember mochi: the neighbour's cat @{photos['chelsea']}")
    assert "Careful: this photo also looks like <bo> to me." in second, second
    assert (await own("/index on")).startswith("photo index: on")
    answer = await own(f"@{photos['chelsea']}")
    assert "not sure which: <bo> or <mochi> (they look alike to me)" in answer or "<mochi> or <bo>" in answer, answer
    found = await own("/find bo")
    assert "<bo> or <mochi> (look-alikes: not sure which)" in found or "<mochi> or <bo>" in found, found
