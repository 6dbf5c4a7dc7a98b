"""Every operation of MemoryStore on a real Postgres, and each bad input leaving nothing changed."""

from __future__ import annotations

import numpy as np
import pytest
from memory_testkit import DIM, ENCODER, OWNER, jpeg, make_view, png, unit

from memory.errors import (
    DuplicateName,
    InvalidCategory,
    InvalidDescription,
    InvalidEmbedding,
    InvalidImage,
    InvalidName,
    InvalidSetting,
    QuotaExceeded,
    UnknownConcept,
    UnknownScope,
)
from memory.store import MemoryStore
from memory.types import Actor, NewView, ScopeKind


def _snapshot(store: MemoryStore, scope_id: int) -> tuple:
    page = store.list_concepts(scope_id, OWNER, limit=100)
    return (
        [(c.name, c.description, c.category, c.view_count) for c in page.items],
        [(e.action, e.details) for e in store.audit(scope_id, OWNER, limit=100)],
    )


def test_scope_is_get_or_create(store: MemoryStore) -> None:
    first = store.scope("telegram", ScopeKind.USER, "42")
    assert store.scope("telegram", "user", "42") == first
    assert store.scope("telegram", ScopeKind.GROUP, "42").id != first.id
    assert store.scope("discord", ScopeKind.USER, "42").id != first.id
    assert first.settings.locked is False and first.settings.similarity_threshold is None


@pytest.mark.parametrize(
    ("platform", "kind", "external_id"), [("", "user", "1"), ("tg", "channel", "1"), ("tg", "user", " ")]
)
def test_scope_rejects_bad_keys(store: MemoryStore, platform: str, kind: str, external_id: str) -> None:
    with pytest.raises(InvalidSetting):
        store.scope(platform, kind, external_id)


def test_add_concept_stores_concept_view_and_audit(store, user_scope, alice) -> None:
    concept = store.add_concept(user_scope.id, alice, "  Bo  ", "my shiba inu", "dog", make_view(1))
    assert (concept.name, concept.description, concept.category, concept.view_count) == ("Bo", "my shiba inu", "dog", 1)
    assert concept.created_by == "alice" and concept.scope_id == user_scope.id
    [view] = store.views(concept.id)
    assert view.encoder == ENCODER and view.box == (1.0, 2.0, 30.0, 40.0) and view.image_jpeg == jpeg()
    [entry] = store.audit(user_scope.id, OWNER)
    assert (entry.action, entry.actor, entry.concept_id, entry.details["name"]) == ("add", "alice", concept.id, "Bo")


@pytest.mark.parametrize("name", ["Мой кот", "小狗 bo", "🐶 bo", "👩‍👩‍👧 family", "a" * 64, "my dog bo"])
def test_names_in_any_language_with_spaces_and_emoji(store, user_scope, alice, name: str) -> None:
    concept = store.add_concept(user_scope.id, alice, name, "", "dog", make_view(1))
    assert store.get(user_scope.id, OWNER, name).id == concept.id


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a" * 65, "at most 64"),
        ("bo\x00", "control"),
        ("bo\nbo", "line"),
        ("\x07bell", "control"),
    ],
)
def test_bad_names_are_refused_and_nothing_changes(store, user_scope, alice, add, name: str, why: str) -> None:
    add(user_scope, alice, "keep")
    before = _snapshot(store, user_scope.id)
    with pytest.raises(InvalidName, match=why):
        store.add_concept(user_scope.id, alice, name, "", "dog", make_view(2))
    with pytest.raises(InvalidName):
        store.rename(user_scope.id, alice, "keep", name)
    assert _snapshot(store, user_scope.id) == before


@pytest.mark.parametrize("twin", ["bo", "BO", "Ｂｏ", " Bo "])
def test_duplicate_names_after_casefold_and_nfkc(store, user_scope, alice, add, twin: str) -> None:
    add(user_scope, alice, "Bo")
    before = _snapshot(store, user_scope.id)
    with pytest.raises(DuplicateName, match="already in this memory"):
        add(user_scope, alice, twin, seed=3)
    assert _snapshot(store, user_scope.id) == before


def test_same_name_in_two_scopes_is_fine(store, user_scope, alice, add) -> None:
    other = store.scope("telegram", "user", "bob")
    add(user_scope, alice, "bo")
    add(other, Actor("bob"), "bo")
    assert store.get(other.id, Actor("bob"), "bo").created_by == "bob"


def test_description_limits(store, user_scope, alice, add) -> None:
    add(user_scope, alice, "bo")
    long = "x" * (store.settings.max_description_chars + 1)
    with pytest.raises(InvalidDescription, match="at most"):
        add(user_scope, alice, "rex", description=long)
    with pytest.raises(InvalidDescription):
        store.edit_description(user_scope.id, alice, "bo", "bad\x00byte")
    assert store.get(user_scope.id, OWNER, "bo").description == "a thing"
    assert [c.name for c in store.list_concepts(user_scope.id, OWNER).items] == ["bo"]
    multi = "line one\nline two\tand a tab"
    assert store.edit_description(user_scope.id, alice, "bo", multi).description == multi


@pytest.mark.parametrize("category", ["", "  ", "c" * 65, "a\nb"])
def test_bad_category(store, user_scope, alice, add, category: str) -> None:
    with pytest.raises(InvalidCategory):
        add(user_scope, alice, "bo", category=category)
    assert store.list_concepts(user_scope.id, OWNER).total == 0


@pytest.mark.parametrize(
    ("embedding", "why"),
    [
        (np.full(DIM, np.nan, dtype=np.float32), "not finite"),
        (np.full(DIM, np.inf, dtype=np.float32), "not finite"),
        (np.zeros(DIM, dtype=np.float32), "all zeros"),
        (np.ones((2, DIM), dtype=np.float32), "one vector"),
        (np.ones(0, dtype=np.float32), "1..16000"),
        (np.ones(16_001, dtype=np.float32), "1..16000"),
    ],
)
def test_bad_embeddings(store, user_scope, alice, embedding, why: str) -> None:
    with pytest.raises(InvalidEmbedding, match=why):
        store.add_concept(user_scope.id, alice, "bo", "", "dog", NewView(jpeg(), embedding, ENCODER))
    assert store.list_concepts(user_scope.id, OWNER).total == 0


def test_wrong_dimension_for_the_scopes_encoder(store, user_scope, alice, add) -> None:
    add(user_scope, alice, "bo")
    with pytest.raises(InvalidEmbedding, match="has 8 numbers"):
        add(user_scope, alice, "rex", view=make_view(2, dim=8))
    with pytest.raises(InvalidEmbedding, match="has 8 numbers"):
        store.add_view(user_scope.id, alice, "bo", make_view(2, dim=8))
    # another encoder may have its own dimension
    add(user_scope, alice, "rex", view=make_view(2, dim=8, encoder="open_clip:ViT-L-14-336/openai"))
    assert store.encoders([user_scope.id]) == sorted([ENCODER, "open_clip:ViT-L-14-336/openai"])


def test_add_view_after_an_encoder_change_is_stored_with_the_new_encoder(store, user_scope, alice, add) -> None:
    # The older photos keep their encoder until `rapbot memory reembed` brings them over.
    add(user_scope, alice, "bo")
    store.add_view(user_scope.id, alice, "bo", make_view(2, dim=8, encoder="other:enc"))
    assert store.get(user_scope.id, OWNER, "bo").view_count == 2
    assert store.encoders([user_scope.id]) == sorted([ENCODER, "other:enc"])


@pytest.mark.parametrize(
    ("image", "error", "why"),
    [
        (b"", InvalidImage, "empty"),
        (b"GIF89a....", InvalidImage, "not a JPEG or PNG"),
        (b"\xff\xd8\xff" + b"0" * 60_000, QuotaExceeded, "too large"),
    ],
)
def test_bad_images(store, user_scope, alice, image: bytes, error: type, why: str) -> None:
    with pytest.raises(error, match=why):
        store.add_concept(user_scope.id, alice, "bo", "", "dog", make_view(1, image=image))
    assert store.list_concepts(user_scope.id, OWNER).total == 0


def test_png_is_accepted(store, user_scope, alice) -> None:
    concept = store.add_concept(user_scope.id, alice, "bo", "", "dog", make_view(1, image=png()))
    assert store.views(concept.id)[0].image_jpeg == png()


def test_bad_box_is_refused(store, user_scope, alice) -> None:
    view = NewView(jpeg(), unit(1), ENCODER, box=(10.0, 10.0, 5.0, 5.0))
    with pytest.raises(InvalidImage, match="box"):
        store.add_concept(user_scope.id, alice, "bo", "", "dog", view)


def test_concept_quota(store, user_scope, alice, add) -> None:
    for i in range(store.settings.max_concepts_per_scope):
        add(user_scope, alice, f"thing {i}", seed=i)
    with pytest.raises(QuotaExceeded, match="full"):
        add(user_scope, alice, "one too many", seed=99)
    assert store.list_concepts(user_scope.id, OWNER).total == store.settings.max_concepts_per_scope


def test_add_view_up_to_the_limit(store, user_scope, alice, add) -> None:
    add(user_scope, alice, "bo")
    for i in range(store.settings.max_views_per_concept - 1):
        concept = store.add_view(user_scope.id, alice, "BO", make_view(10 + i))
    assert concept.view_count == store.settings.max_views_per_concept
    assert concept.updated_at > concept.created_at
    with pytest.raises(QuotaExceeded, match="already has 3 photos"):
        store.add_view(user_scope.id, alice, "bo", make_view(50))
    assert len(store.views(concept.id)) == store.settings.max_views_per_concept


def test_unknown_concept_is_named(store, user_scope, alice) -> None:
    for call in (
        lambda: store.get(user_scope.id, OWNER, "ghost"),
        lambda: store.add_view(user_scope.id, alice, "ghost", make_view()),
        lambda: store.edit_description(user_scope.id, alice, "ghost", "x"),
        lambda: store.rename(user_scope.id, alice, "ghost", "spirit"),
        lambda: store.set_category(user_scope.id, alice, "ghost", "cat"),
        lambda: store.forget(user_scope.id, alice, "ghost"),
    ):
        with pytest.raises(UnknownConcept, match='"ghost"'):
            call()
    assert store.audit(user_scope.id, OWNER) == []


def test_unknown_scope(store, alice) -> None:
    with pytest.raises(UnknownScope):
        store.add_concept(987654, alice, "bo", "", "dog", make_view())


def test_idempotent_add_concept_and_add_view(store, user_scope, alice) -> None:
    first = store.add_concept(user_scope.id, alice, "bo", "", "dog", make_view(1), request_id="req-1")
    again = store.add_concept(user_scope.id, alice, "bo", "", "dog", make_view(1), request_id="req-1")
    assert again == first
    store.add_view(user_scope.id, alice, "bo", make_view(2), request_id="req-2")
    replay = store.add_view(user_scope.id, alice, "bo", make_view(2), request_id="req-2")
    assert replay.view_count == 2
    assert [e.action for e in store.audit(user_scope.id, OWNER)] == ["add_view", "add"]


def test_edit_rename_recategorise(store, user_scope, alice, add) -> None:
    concept = add(user_scope, alice, "bo")
    assert store.edit_description(user_scope.id, alice, "bo", "loves chicken").description == "loves chicken"
    renamed = store.rename(user_scope.id, alice, "bo", "Bobo")
    assert (renamed.id, renamed.name) == (concept.id, "Bobo")
    assert store.rename(user_scope.id, alice, "bobo", "BOBO").name == "BOBO"  # case change only
    assert store.set_category(user_scope.id, alice, "bobo", "shiba").category == "shiba"
    with pytest.raises(UnknownConcept):
        store.get(user_scope.id, OWNER, "bo")
    entries = store.audit(user_scope.id, OWNER)
    assert [e.action for e in entries] == ["recategorise", "rename", "rename", "edit", "add"]
    assert entries[2].details == {"old": "bo", "new": "Bobo"}
    assert entries[0].details == {"name": "BOBO", "old": "dog", "new": "shiba"}


def test_rename_onto_an_existing_name_is_refused(store, user_scope, alice, add) -> None:
    add(user_scope, alice, "bo")
    add(user_scope, alice, "rex", seed=2)
    with pytest.raises(DuplicateName):
        store.rename(user_scope.id, alice, "bo", "REX")
    assert store.get(user_scope.id, OWNER, "bo").name == "bo"


def test_forget_removes_concept_views_and_images(store, user_scope, alice, add) -> None:
    concept = add(user_scope, alice, "bo", seed=1)
    store.add_view(user_scope.id, alice, "bo", make_view(2))
    store.forget(user_scope.id, alice, "BO")
    assert store.views(concept.id) == []
    assert store.list_concepts(user_scope.id, OWNER).total == 0
    assert store.search([user_scope.id], unit(1), ENCODER) == []
    with pytest.raises(UnknownConcept):
        store.get(user_scope.id, OWNER, "bo")
    assert store.audit(user_scope.id, OWNER)[0].action == "forget"


def test_list_concepts_pages_sorted_by_name(store, user_scope, alice, add) -> None:
    for i, name in enumerate(["delta", "Alpha", "charlie", "bravo", "echo"]):
        add(user_scope, alice, name, seed=i)
    first = store.list_concepts(user_scope.id, OWNER, offset=0, limit=2)
    second = store.list_concepts(user_scope.id, OWNER, offset=2, limit=2)
    last = store.list_concepts(user_scope.id, OWNER, offset=4, limit=2)
    assert first.total == 5
    assert [c.name for c in first.items + second.items + last.items] == ["Alpha", "bravo", "charlie", "delta", "echo"]
    assert store.list_concepts(user_scope.id, OWNER, offset=10).items == []


def test_get_by_names_all_names_categories(store, user_scope, group_scope, alice, add) -> None:
    add(user_scope, alice, "Bo", category="dog")
    add(user_scope, alice, "Ｍｏｃｈｉ", seed=2, category="cat")
    add(group_scope, alice, "office plant", seed=3, category="plant")
    found = store.get_by_names([user_scope.id, group_scope.id], ["mochi", "OFFICE PLANT", "bo", "nobody"])
    assert [c.name for c in found] == ["Ｍｏｃｈｉ", "Bo", "office plant"]
    assert store.get_by_names([group_scope.id], ["bo"]) == []
    assert [c.name for c in store.all_names([user_scope.id])] == ["Bo", "Ｍｏｃｈｉ"]
    assert store.categories([user_scope.id, group_scope.id]) == ["cat", "dog", "plant"]
    assert store.categories([]) == [] and store.all_names([]) == []


def test_update_settings(store, user_scope, alice) -> None:
    info = store.update_settings(user_scope.id, alice, locked=True, similarity_threshold=0.6, auto_caption=True)
    assert info.settings.locked and info.settings.similarity_threshold == 0.6 and info.settings.auto_caption
    assert store.effective_threshold(info) == 0.6
    assert store.effective_threshold(user_scope) == store.settings.default_similarity_threshold
    kept = store.update_settings(user_scope.id, alice, auto_caption=False)
    assert kept.settings.similarity_threshold == 0.6 and not kept.settings.auto_caption
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(InvalidSetting, match="from 0 to 1"):
            store.update_settings(user_scope.id, alice, similarity_threshold=bad)
    assert store.get_scope(user_scope.id).settings.similarity_threshold == 0.6
    assert store.audit(user_scope.id, OWNER)[0].details == {"auto_caption": False}


def test_nfkc_expanding_name_is_stored(store, user_scope, alice) -> None:
    name = "ﷺ" * 64  # each expands to 18 characters under NFKC
    assert store.add_concept(user_scope.id, alice, name, "", "dog", make_view(1)).name == name
    assert store.get(user_scope.id, OWNER, name).name == name


@pytest.mark.parametrize("bad", ["", "x" * 129, "a\x00b"])
def test_bad_ids_are_refused_cleanly(store, user_scope, bad: str) -> None:
    with pytest.raises(InvalidSetting):
        store.add_concept(user_scope.id, Actor(bad), "bo", "", "dog", make_view(1))
    with pytest.raises(InvalidSetting):
        store.add_concept(user_scope.id, Actor("alice"), "bo", "", "dog", make_view(1), request_id=bad)
    with pytest.raises(InvalidSetting):
        store.scope("telegram", "user", bad)
    with pytest.raises(InvalidSetting):
        store.erase_user("telegram", Actor(bad))
    assert store.list_concepts(user_scope.id, OWNER).total == 0


def test_unknown_name_is_echoed_short(store, user_scope) -> None:
    with pytest.raises(UnknownConcept) as caught:
        store.get(user_scope.id, OWNER, "z" * 5000)
    assert len(str(caught.value)) < 120
