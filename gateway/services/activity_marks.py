"""``last_pulled``/``last_pushed`` on tag rows and image details, from the activity log.

A page is decorated with one marks call for all its rows (one SQLite query or one Redis
pipeline per kind), after it was built: the rows were read with the caller's own
credentials, so the caller may see their dates, and nothing is asked upstream. A row
without a digest (``details=false``) gets its tag's last push only. When the store
cannot be read the rows are served as they are (the engine's ``marks`` never raises).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from gateway.activity import MarkKey, Marks
from gateway.models import api
from gateway.registry.names import is_reference_digest

#: Reads the marks of a page of rows (``ActivityService.marks_of``).
Marker = Callable[[Sequence[MarkKey]], Awaitable[list[Marks]]]


def _fields(marks: Marks) -> dict[str, str | None]:
    pulled, pushed = marks.last_pulled, marks.last_pushed
    return {
        "last_pulled": None if pulled is None else pulled.api(),
        "last_pulled_by": None if pulled is None else pulled.actor,
        "last_pushed": None if pushed is None else pushed.api(),
        "last_pushed_by": None if pushed is None else pushed.actor,
    }


async def tag_rows(marker: Marker | None, repo: str, rows: list[api.TagInfo]) -> list[api.TagInfo]:
    """The rows with their marks (the same rows when there is no activity log)."""
    if marker is None or not rows:
        return rows
    found = await marker([MarkKey(repo, row.name, row.digest) for row in rows])
    return [
        row.model_copy(update=_fields(marks)) if marks.last_pulled or marks.last_pushed else row
        for row, marks in zip(rows, found, strict=True)
    ]


async def image_detail(marker: Marker | None, detail: api.ImageDetail) -> api.ImageDetail:
    """The detail with its digest's last pull and (named by a tag) the tag's last push."""
    if marker is None:
        return detail
    tag = None if is_reference_digest(detail.reference) else detail.reference
    (marks,) = await marker([MarkKey(detail.repository, tag, detail.digest)])
    if marks.last_pulled is None and marks.last_pushed is None:
        return detail
    return detail.model_copy(update=_fields(marks))
