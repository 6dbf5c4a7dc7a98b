from __future__ import annotations
import io
import pytest
from PIL import Image
from model.profiles import load_bundle
from worker.local import LocalClient
from worker.settings import WorkerSettings


def jpeg_of(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


async def test_explore(store, alice, tiny_models):
    from skimage import data
    ph = {n: jpeg_of(getattr(data, f)()) for n, f in [("cat","chelsea"),("astronaut","astronaut"),("coffee","coffee"),("rocket","rocket"),("coins","coins"),("hubble","hubble_deep_field")]}
    client = LocalClient.for_store(store, tiny_models, WorkerSettings(reply_max_new_tokens=2))
    await client.update_settings(alice, similarity_threshold=0.0)
    for choice in (1,):
        for name, photo in ph.items():
            r = await client.remember(alice, name, "x", [photo])
            if r.status == "candidates":
                print(name, [(c.label, round(c.score,2)) for c in r.candidates])
                r = await client.choose(alice, r.pending_id, choice)
            print(name, r.status, r.concept.category)
    for q in ph:
        a = await client.answer(alice, ph[q], None)
        print(q, [(x.name, round(x.similarity,3)) for x in a.recognised], a.left_out)
    await client.close()
