"""A concept's "not it" photos (a chat's /no) on its gallery page: shown to those who may read the
memory, served like its own photos, and never to anyone else."""

from __future__ import annotations

from web_testkit import ALICE, BOB, Gallery, jpeg, tg


async def test_the_concept_page_shows_the_crops_said_not_to_be_it(gallery: Gallery) -> None:
    alice = tg(ALICE)
    answer = await gallery.client.answer(alice, jpeg("astronaut"), None)  # the tiny CLIP calls it bo
    [seen] = [r for r in answer.recognised if r.name == "bo"]
    assert seen.feedback_id
    await gallery.client.feedback(alice, seen.feedback_id, "bo", False)

    http = gallery.sign_in(ALICE)
    page = http.get("/m/me/concept", params={"name": "bo"}).text
    assert "Not bo" in page and "1 marked" in page
    negative = http.get("/m/me/photo", params={"name": "bo", "view": 0, "kind": "negative"})
    assert negative.status_code == 200 and negative.headers["content-type"] == "image/jpeg"
    assert http.get("/m/me/photo", params={"name": "bo", "view": 0}).content != negative.content
    assert http.get("/m/me/photo", params={"name": "bo", "view": 1, "kind": "negative"}).status_code == 404
    http.close()

    bob = gallery.sign_in(BOB)  # bob's own memory has no bo: nothing of alice's is reachable
    assert bob.get("/m/me/photo", params={"name": "bo", "view": 0, "kind": "negative"}).status_code == 404
    bob.close()
