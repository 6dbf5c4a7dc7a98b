"""Who reaches what in the gallery, through real HTTP: a user never gets another user's or another
group's concept, photo, export or audit log by any URL (a property test over random memory ids,
names and view indexes), members are refused moderators' pages and actions (and not offered them),
and photos come back as private, resized JPEGs."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from web_testkit import ALICE, BOB, CAROL, CLUB, OTHER, Gallery

from worker.schemas import Requester

# Every concept name in the seeded memories, and the memories they are in.
OTHERS_NAMES = ["bo", "mascot", "bobcat", "secret", "guildpet", "modpet", "strangerpet"]
BOBS_KEYS = {"me", f"g{CLUB}"}
BOBS_OWN = {("me", "rex"), (f"g{CLUB}", "mascot"), (f"g{CLUB}", "bobcat")}


@pytest.fixture(scope="module")
def bob(gallery: Gallery) -> httpx.Client:
    return gallery.sign_in(BOB)


@pytest.fixture(scope="module")
def alice(gallery: Gallery) -> httpx.Client:
    return gallery.sign_in(ALICE)


memory_keys = st.one_of(
    st.sampled_from(["me", f"g{CLUB}", f"g{OTHER}", "g900", "g901", "g903", f"g{ALICE}", f"g{CAROL}", "g", "x"]),
    st.integers(-(10**13), 10**13).map(lambda n: f"g{n}"),
    st.text(alphabet="abcdefgh-_0123456789%", min_size=1, max_size=12),
)
names = st.one_of(st.sampled_from([*OTHERS_NAMES, "rex"]), st.text(min_size=1, max_size=20))
views = st.integers(-3, 5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=memory_keys, name=names, view=views, what=st.sampled_from(["concept", "photo", "audit", "settings"]))
def test_no_url_reaches_another_memory(bob: httpx.Client, key: str, name: str, view: int, what: str) -> None:
    if what == "concept":
        response = bob.get(f"/m/{key}/concept", params={"name": name})
    elif what == "photo":
        response = bob.get(f"/m/{key}/photo", params={"name": name, "view": view})
    else:
        response = bob.get(f"/m/{key}/{what}")
    # (A concept page takes no view index: `view` only matters for a photo.)
    own = key in BOBS_KEYS and (key, name) in BOBS_OWN
    readable = own and (what == "concept" or (what == "photo" and view in (0, 1)))
    if readable:
        assert response.status_code in (200, 404), response.status_code  # 404: a view index past the last
        return
    if key in BOBS_KEYS and key != "me" and what == "settings":  # his group's settings: read, not changed
        assert response.status_code == 200 and "Save settings" not in response.text
        return
    # Never a page or photo of a memory that is not bob's; bob's group is his to read, not to moderate.
    assert response.status_code in (403, 404, 422), (key, name, view, what, response.status_code)
    for other in ("my shiba inu", "carol's group only", "a guild&#39;s pet", "Carol&#39;s Secret Group"):
        assert other not in response.text
    assert not response.headers.get("content-type", "").startswith("image/")


def test_others_memories_are_not_found(bob: httpx.Client) -> None:
    assert bob.get("/m/me/concept", params={"name": "bo"}).status_code == 404  # alice's private concept
    assert bob.get(f"/m/g{OTHER}").status_code == 404
    assert bob.get(f"/m/g{OTHER}/photo", params={"name": "secret"}).status_code == 404
    assert "Carol" not in bob.get("/").text


def test_export_holds_only_the_users_own_data(bob: httpx.Client) -> None:
    response = bob.get("/export")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        listing = json.dumps(json.loads(archive.read("concepts.json")))
    assert "rex" in listing and "bobcat" in listing
    for other in ("mascot", '"bo"', "secret", "guildpet"):
        assert other not in listing


def test_photos_are_private_resized_jpegs(gallery: Gallery, bob: httpx.Client) -> None:
    thumb = bob.get("/m/me/photo", params={"name": "rex", "view": 0})
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/jpeg"
    assert thumb.headers["cache-control"].startswith("private")
    assert thumb.headers["x-content-type-options"] == "nosniff"
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert image.format == "JPEG" and max(image.size) <= 320
    full = bob.get("/m/me/photo", params={"name": "rex", "view": 0, "size": "full"})
    with Image.open(io.BytesIO(full.content)) as image:
        assert max(image.size) > 320
    assert bob.get("/m/me/photo", params={"name": "rex", "view": 7}).status_code == 404
    anonymous = gallery.browser().get("/m/me/photo", params={"name": "rex"}, headers={"accept": "image/*"})
    assert anonymous.status_code == 401


def test_members_are_refused_moderators_actions(gallery: Gallery, bob: httpx.Client) -> None:
    club = f"/m/g{CLUB}"
    grid = bob.get(club).text
    assert "mascot" in grid and "Settings" not in grid and "Audit log" not in grid
    settings_page = bob.get(f"{club}/settings")  # read, as /threshold in the chat; no form to change them
    assert settings_page.status_code == 200 and "Save settings" not in settings_page.text
    assert bob.get(f"{club}/audit").status_code == 403
    token = gallery.csrf(bob, club)
    assert bob.post(f"{club}/settings", data={"locked": "true", "csrf_token": token}).status_code == 403
    assert bob.post(f"{club}/purge", data={"member_id": str(ALICE), "csrf_token": token}).status_code == 403
    settings_now = asyncio.run(gallery.client.get_settings(_club_member(BOB)))
    assert not settings_now.locked
    assert "mascot" in bob.get(club).text  # nothing purged


def test_members_change_only_what_they_added(gallery: Gallery, bob: httpx.Client) -> None:
    club = f"/m/g{CLUB}"
    alices = bob.get(f"{club}/concept", params={"name": "mascot"}).text
    assert "new_name" not in alices and "Forget mascot" not in alices  # not offered...
    token = gallery.csrf(bob, club)
    refused = bob.post(f"{club}/forget", data={"name": "mascot", "csrf_token": token})
    assert refused.status_code == 403  # ...and refused by the store's policy
    assert "mascot" in bob.get(club).text
    own = bob.get(f"{club}/concept", params={"name": "bobcat"}).text
    assert "new_name" in own and "Forget bobcat" in own


def test_moderator_sees_audit_with_thumbnails_and_locks(gallery: Gallery, alice: httpx.Client) -> None:
    club = f"/m/g{CLUB}"
    grid = alice.get(club).text
    assert "Settings" in grid and "Audit log" in grid
    audit = alice.get(f"{club}/audit")
    assert audit.status_code == 200
    assert "mascot" in audit.text and f"{club}/photo?name=mascot" in audit.text
    token = gallery.csrf(alice, f"{club}/settings")
    saved = alice.post(f"{club}/settings", data={"locked": "true", "similarity_threshold": "0.5", "csrf_token": token})
    assert saved.status_code == 303
    now = asyncio.run(gallery.client.get_settings(_club_member(ALICE)))
    assert now.locked and now.similarity_threshold == pytest.approx(0.5)
    bob_view = gallery.sign_in(BOB).get(f"{club}/concept", params={"name": "bobcat"}).text
    assert "locked" in bob_view and "new_name" not in bob_view  # locked: members change nothing
    alice.post(f"{club}/settings", data={"csrf_token": token})  # unlock again


def _club_member(user_id: int) -> Requester:
    return Requester(platform="telegram", user_id=str(user_id), chat_kind="group", chat_id=str(CLUB))


def test_upload_adds_a_photo(gallery: Gallery, bob: httpx.Client) -> None:
    from web_testkit import jpeg

    assert bob.get("/m/me/photo", params={"name": "rex", "view": 1}).status_code == 404
    token = gallery.csrf(bob, "/m/me/concept?name=rex")
    sent = bob.post(
        "/m/me/add-photo",
        data={"name": "rex", "csrf_token": token},
        files={"file": ("rex2.jpg", jpeg("chelsea", 200), "image/jpeg")},
    )
    assert sent.status_code == 303, sent.text
    assert "2 photos" in bob.get("/m/me/concept", params={"name": "rex"}).text
    second = bob.get("/m/me/photo", params={"name": "rex", "view": 1})
    assert second.status_code == 200 and second.headers["content-type"] == "image/jpeg"
    not_a_photo = bob.post(
        "/m/me/add-photo",
        data={"name": "rex", "csrf_token": token},
        files={"file": ("notes.txt", b"not a photo at all", "text/plain")},
    )
    assert not_a_photo.status_code == 422
