"""Yes / no buttons under a photo answer on Discord, through discord.py's real command tree (see
discord_gateway.py) and the real worker client: "Not <bo>" stops the same look-alike being called
bo, the pressed concept's buttons go while the answer stays, and only the asker can press."""

from __future__ import annotations

from discord_gateway import FakeDiscord, Person, Seen, Upload

from worker.client import RapClient
from worker.schemas import Requester


async def said(gateway: FakeDiscord, who: Person, command: str, **options: object) -> Seen:
    seen = await gateway.invoke(who, command, **options)
    assert isinstance(seen, Seen), seen
    return seen


async def test_not_bo_teaches_the_memory_and_takes_its_buttons_away(
    gateway: FakeDiscord, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    alice = Person()
    stored = await said(gateway, alice, "remember", name="bo", description="my rocket", image=Upload(photos["rocket"]))
    if "Whole photo" in [b.get("label") for b in stored.buttons]:
        stored = await gateway.press(alice, stored, "Whole photo")
    assert str(stored.content).startswith("remembered <bo>"), stored.content

    caption = await said(gateway, alice, "caption", image=Upload(photos["astronaut"], "lookalike.jpg"))
    assert "recognised: <bo>" in str(caption.content)
    assert [b["label"] for b in caption.buttons] == ["Yes, bo", "Not bo"]

    stranger = await gateway.press(Person(), caption, "Not bo")
    assert stranger.ephemeral and "someone else" in str(stranger.content)

    rejected = await gateway.press(alice, caption, "Not bo")
    assert str(rejected.content).startswith("noted: that is not <bo>") and not rejected.ephemeral
    edits = [s for s in gateway.seen if s.how == "edit" and s.interaction_id == rejected.interaction_id]
    assert edits and edits[-1].buttons == [], "the answered concept's buttons are gone"
    concept = (await rap_client.show(Requester(platform="discord", user_id=str(alice.id)), "bo")).concept
    assert (concept.view_count, concept.negative_count) == (1, 1)

    again = await said(gateway, alice, "caption", image=Upload(photos["astronaut"], "again.jpg"))
    assert "<bo>" not in str(again.content).split("recognised:")[-1]


async def test_yes_and_no_slash_commands_answer_the_last_photo_answer(
    gateway: FakeDiscord, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    """When the buttons are gone (expired), /no and /yes say the same about the asker's last photo answer."""
    bea = Person()
    stored = await said(gateway, bea, "remember", name="bo", description="my rocket", image=Upload(photos["rocket"]))
    if "Whole photo" in [b.get("label") for b in stored.buttons]:
        stored = await gateway.press(bea, stored, "Whole photo")
    assert str((await said(gateway, bea, "no")).content).startswith("There is nothing to say yes or no to")

    caption = await said(gateway, bea, "caption", image=Upload(photos["astronaut"], "lookalike.jpg"))
    assert "recognised: <bo>" in str(caption.content)
    assert str((await said(gateway, Person(), "no")).content).startswith("There is nothing to say yes or no to")
    wrong = await said(gateway, bea, "no", name="rex")
    assert wrong.ephemeral and str(wrong.content).startswith("I did not recognise <rex> in the last photo")

    rejected = await said(gateway, bea, "no")
    assert str(rejected.content).startswith("noted: that is not <bo>")
    concept = (await rap_client.show(Requester(platform="discord", user_id=str(bea.id)), "bo")).concept
    assert (concept.view_count, concept.negative_count) == (1, 1)
