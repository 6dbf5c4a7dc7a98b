"""/addphoto with several photos (a console line with several @files, a Telegram album, several
Discord attachments): the photos are added one by one, so some may be added and others not.
`add_photos` tries every photo; `bot.replies.photos_added` says exactly what was added, what was not
and why, photo by photo."""

from __future__ import annotations

from dataclasses import dataclass, field

from worker.client import RapClient
from worker.errors import ALREADY_SAVED, BAD_IMAGE, RapError
from worker.schemas import ConceptSummary, Requester

# Refusals about one photo only: damaged or not an image, too large, a photo the concept already has,
# nothing usable found in it. The next photos are still tried. Any other refusal (the concept is full,
# unknown or locked; the backend is down) would refuse the next photos the same way, so the rest are
# not sent, and the reply says which were not tried.
PER_PHOTO_CODES = frozenset({BAD_IMAGE, "invalid_image", "invalid_embedding", ALREADY_SAVED, "nothing_found"})


@dataclass
class PhotosAdded:
    name: str
    total: int  # photos sent with the command
    concept: ConceptSummary | None = None  # the concept after the last photo that was added
    added: list[int] = field(default_factory=list)  # 1-based numbers of the photos added
    refused: list[tuple[int, RapError]] = field(default_factory=list)  # photos refused on their own
    stopped: tuple[int, RapError] | None = None  # the photo whose refusal stopped the rest

    @property
    def not_tried(self) -> list[int]:
        """The photos never sent, because an earlier refusal was about the concept or the service."""
        return [] if self.stopped is None else list(range(self.stopped[0] + 1, self.total + 1))


async def add_photos(
    client: RapClient, who: Requester, name: str, images: list[bytes], request_id: str | None = None
) -> PhotosAdded:
    """Add each photo as a view of `name`. One photo: its refusal is raised as the RapError it is.
    Several: never raises a RapError; the outcome says which were added. `request_id` (for a
    redelivered chat update) gives photo i the id `request_id:i`, so each is stored once."""
    if len(images) == 1:
        concept = await client.add_view(
            who, name, images[0], request_id=None if request_id is None else f"{request_id}:0"
        )
        return PhotosAdded(name, 1, concept, [1])
    outcome = PhotosAdded(name, len(images))
    for index, image in enumerate(images):
        number = index + 1
        try:
            outcome.concept = await client.add_view(
                who, name, image, request_id=None if request_id is None else f"{request_id}:{index}"
            )
        except RapError as err:
            if err.code in PER_PHOTO_CODES:
                outcome.refused.append((number, err))
                continue
            outcome.stopped = (number, err)
            break
        outcome.added.append(number)
    return outcome
