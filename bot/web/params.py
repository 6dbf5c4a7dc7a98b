"""What every gallery route accepts: bounded numbers, names and texts without control characters,
bounded lengths. A request outside them gets a 422 page (bot/web/app.py), never a 5xx."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Path, Query

# Printable text: no C0 control character (NUL included) and no DEL; a description may hold line
# breaks and tabs.
LINE = r"^[^\x00-\x1f\x7f]*$"
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
MAX_NAME = 200  # the store's own limit is lower: it says why a long name is refused
MAX_TEXT = 4000
MAX_PAGE = 100_000  # far beyond any memory's pages (the store holds a few thousand things at most)
MAX_VIEW = 1000
MAX_QUERY = 300  # a photo index search (/find): the worker's own limit (worker/domain/indexing.py)
MAX_UPLOAD_PHOTOS = 10  # photos in one upload, as in a Telegram album; together within the upload limit

MemoryKey = Annotated[str, Path(min_length=1, max_length=140, pattern=LINE)]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]
ViewIndex = Annotated[int, Query(ge=0, le=MAX_VIEW)]
NameQuery = Annotated[str, Query(min_length=1, max_length=MAX_NAME, pattern=LINE)]
SearchQuery = Annotated[str, Query(min_length=1, max_length=MAX_QUERY, pattern=LINE)]
NameForm = Annotated[str, Form(min_length=1, max_length=MAX_NAME, pattern=LINE)]
TextForm = Annotated[str, Form(max_length=MAX_TEXT, pattern=TEXT)]
