"""The photo index in the gallery (docs/index.md, docs/gallery.md): the search box (the chats' /find)
finds a concept's photos and a text query as links to where they were posted, a concept's page shows
where it was seen in the chat, a memory with its index off says how to turn it on, and nobody
outside a group sees its index (404, as every other page). And the concept page's upload of several
photos at once: every photo is tried, and the message says photo by photo what was added and why not
(bot/photos.py through the dispatcher, as an album in the chats). Real HTTP, the tiny profile, a real
Postgres."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from web_testkit import ALICE, BOB, CAROL, CLUB, Gallery, jpeg, tg

from worker.schemas import Requester

BO_POST = "https://t.me/c/42/1001"  # alice's private chat: the photo of bo she posted
CUP_POST = "/photos/a cup.jpg"  # a console file path: text, not a link
MASCOT_POST = "https://t.me/c/1001/7"  # the club's photo of its mascot
CLUB_KEY = f"g{CLUB}"


def _club(user_id: int, moderator: bool = False) -> Requester:
    return Requester(
        platform="telegram", user_id=str(user_id), chat_kind="group", chat_id=str(CLUB), moderator=moderator
    )


@pytest.fixture(scope="module")
def indexed(gallery: Gallery) -> Gallery:
    """alice's private index and the club's are on, with photos posted in each; bob's is off."""

    async def post() -> None:
        client = gallery.client
        assert (await client.photo_index(tg(ALICE), enabled=True)).enabled
        done = await client.index_photo(tg(ALICE), [jpeg("chelsea"), jpeg("coffee")], [BO_POST, CUP_POST])
        assert done.indexed == 2 and "bo" in done.recognised, done
        assert (await client.photo_index(_club(ALICE, moderator=True), enabled=True)).enabled
        club = await client.index_photo(_club(BOB), [jpeg("astronaut")], [MASCOT_POST])
        assert club.indexed == 1 and "mascot" in club.recognised, club

    asyncio.run(post())
    return gallery


@pytest.fixture(scope="module")
def alice(indexed: Gallery) -> httpx.Client:
    return indexed.sign_in(ALICE)


@pytest.fixture(scope="module")
def bob(indexed: Gallery) -> httpx.Client:
    return indexed.sign_in(BOB)


def test_search_finds_a_concepts_photos_and_a_text_query(alice: httpx.Client) -> None:
    grid = alice.get("/m/me")
    assert grid.status_code == 200 and 'action="/m/me/find"' in grid.text, "the index is on: a search box"

    found = alice.get("/m/me/find", params={"q": "bo"})
    assert found.status_code == 200, found.text
    main = found.text[found.text.index("<main>") :]
    # (the tiny profile's random CLIP may see bo in the cup too: which photos, the worker's tests say)
    assert f'href="{BO_POST}"' in main and "bo was seen in " in main and "the newest first" in main, main
    assert MASCOT_POST not in main, "the club's index is the club's"

    text = alice.get("/m/me/find", params={"q": "a cup of coffee"})
    assert text.status_code == 200, text.text
    assert "Photos like “a cup of coffee”, best first" in text.text
    assert f'href="{BO_POST}"' in text.text and f"<code>{CUP_POST}</code>" in text.text, "every indexed photo, ranked"

    ranked = alice.get("/m/me/find", params={"q": "<bo> on a sofa"})
    assert ranked.status_code == 200 and "Photos of bo like “on a sofa”" in ranked.text and BO_POST in ranked.text


def test_search_parameters_are_bounded(alice: httpx.Client) -> None:
    for bad in ({"q": ""}, {"q": "x" * 301}, {"q": "bo\x00"}, {"q": "bo\x1b[31m"}, {}):
        answer = alice.get("/m/me/find", params=bad)
        assert answer.status_code == 422, (bad, answer.status_code)
        assert "\x00" not in answer.text and "\x1b" not in answer.text
    assert alice.get("/m/me/find", params={"q": "<nobody here>"}).status_code == 404  # as /find <nobody> says


def test_concept_page_shows_where_it_was_seen_in_the_chat(alice: httpx.Client, bob: httpx.Client) -> None:
    page = alice.get("/m/me/concept", params={"name": "bo"})
    assert page.status_code == 200 and "Seen in the chat" in page.text
    assert f'href="{BO_POST}"' in page.text and MASCOT_POST not in page.text
    club = bob.get(f"/m/{CLUB_KEY}/concept", params={"name": "mascot"})
    assert club.status_code == 200 and f'href="{MASCOT_POST}"' in club.text, "a member sees the group's index"
    bobcat = bob.get(f"/m/{CLUB_KEY}/concept", params={"name": "bobcat"})
    assert "bobcat was not recognised in a photo posted in the chat yet" in bobcat.text


def test_an_index_that_is_off_says_how_to_turn_it_on(bob: httpx.Client) -> None:
    grid = bob.get("/m/me")
    assert "/m/me/find" not in grid.text and "<code>/index on</code>" in grid.text
    page = bob.get("/m/me/concept", params={"name": "rex"})
    assert "Seen in the chat" in page.text and "<code>/index on</code>" in page.text
    search = bob.get("/m/me/find", params={"q": "bo"})
    assert search.status_code == 200 and "<code>/index on</code>" in search.text and BO_POST not in search.text


def test_nobody_outside_the_chat_sees_its_index(indexed: Gallery, bob: httpx.Client) -> None:
    carol = indexed.sign_in(CAROL)
    for path, query in ((f"/m/{CLUB_KEY}/find", {"q": "mascot"}), (f"/m/{CLUB_KEY}/concept", {"name": "mascot"})):
        refused = carol.get(path, params=query)
        assert refused.status_code == 404 and MASCOT_POST not in refused.text, path
    own = carol.get("/m/me/find", params={"q": "a cup of coffee"})  # her own memory: its index is off
    assert own.status_code == 200 and BO_POST not in own.text and CUP_POST not in own.text
    assert BO_POST not in bob.get("/m/me/find", params={"q": "a cup of coffee"}).text, "alice's private index"
    signed_out = httpx.get(f"{indexed.url}/m/me/find", params={"q": "bo"}, headers={"accept": "application/json"})
    assert signed_out.status_code == 401


def test_several_photos_at_once_each_tried_and_reported(indexed: Gallery, bob: httpx.Client) -> None:
    token = indexed.csrf(bob, "/m/me/concept?name=rex")
    first, second = jpeg("chelsea", 200), jpeg("rocket", 200)
    sent = bob.post(
        "/m/me/add-photo",
        data={"name": "rex", "csrf_token": token},
        files=[
            ("file", ("one.jpg", first, "image/jpeg")),
            ("file", ("again.jpg", first, "image/jpeg")),  # the same photo again: refused alone
            ("file", ("two.jpg", second, "image/jpeg")),
        ],
    )
    assert sent.status_code == 303, sent.text
    page = bob.get("/m/me/concept", params={"name": "rex"}).text
    assert "added 2 of 3 photos to" in page and "photo 2 not added:" in page, page
    assert "3 photos" in page, "the first and the third were added"
    assert bob.get("/m/me/photo", params={"name": "rex", "view": 2}).status_code == 200

    # A refusal about the concept (bob may not change alice's mascot) stops the rest, and says so.
    club_token = indexed.csrf(bob, f"/m/{CLUB_KEY}")
    stopped = bob.post(
        f"/m/{CLUB_KEY}/add-photo",
        data={"name": "mascot", "csrf_token": club_token},
        files=[("file", ("a.jpg", jpeg("coffee", 180), "image/jpeg")), ("file", ("b.jpg", second, "image/jpeg"))],
    )
    # Nothing was added: the album ends as its refusal does (403), with the per-photo account.
    assert stopped.status_code == 403, stopped.text
    said = stopped.text
    assert "none of the 2 photos was added" in said and "not tried: photo 2" in said, said

    too_many = bob.post(
        "/m/me/add-photo",
        data={"name": "rex", "csrf_token": token},
        files=[("file", (f"{i}.jpg", b"x", "image/jpeg")) for i in range(11)],
    )
    assert too_many.status_code == 422 and "at most 10 photos" in too_many.text
