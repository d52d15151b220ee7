"""Files inside images, and the differences between two images (services/layer_files.py).

While a layer is still being read the answer is 202 ``{"status": "indexing", …}`` with
``Retry-After``; asked again later, the same request answers 200. A file's bytes are an
attachment, never rendered on the gateway's origin.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query, Request, Response

from gateway.dependencies import CurrentCaller, Digest, Reference, RepoName, State
from gateway.models.files import (
    FileListing,
    FilePreview,
    ImageDiff,
    IndexingProgress,
    LayerChanges,
)
from gateway.routers import UPSTREAM, errors
from gateway.routers.file_answers import answer, file_answer
from gateway.routers.routing import GatewayRouter

# HEAD would read the layer as GET does: none for these routes.
router = GatewayRouter(tags=["files"], head=False)


PLATFORM = r"^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)?$"
REFERENCE = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$|^sha256:[a-f0-9]{64}$"

Platform = Annotated[
    str | None,
    Query(
        max_length=100,
        pattern=PLATFORM,
        description="os/architecture[/variant]; required for a multi-platform index.",
    ),
]
Path = Annotated[
    str, Query(min_length=1, max_length=4096, description="Absolute path inside the image.")
]
DirPath = Annotated[str, Query(min_length=1, max_length=4096, description="The directory listed.")]
Recursive = Annotated[bool, Query(description="List everything below path.")]
PageSize = Annotated[int, Query(ge=1, le=1000)]
Last = Annotated[str | None, Query(max_length=4096, description="The previous page's next.")]
Wait = Annotated[
    float | None,
    Query(
        ge=0,
        le=3600,
        description="At most this many seconds waited for a layer read before answering "
        "202 (default: what is left of the request's time).",
    ),
]
Image = Annotated[
    str | None,
    Query(
        max_length=200,
        pattern=REFERENCE,
        description="A tag or digest of this repository: the layer must be one of that "
        "image's layers (404 otherwise); its media type then comes from the manifest.",
    ),
]

INDEXING: dict[int | str, dict[str, Any]] = {
    202: {
        "model": IndexingProgress,
        "description": "The layer is still being read: ask again after Retry-After.",
    }
}
LISTING_ERRORS = errors(
    {
        400: ("VALIDATION_ERROR", "NAME_INVALID", "TAG_INVALID", "DIGEST_INVALID"),
        404: ("NAME_UNKNOWN", "MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "FILE_UNKNOWN"),
        503: ("LAYER_INDEX_UNAVAILABLE",),
        413: (
            (
                "LAYER_TOO_LARGE",
                "the layer is larger than the gateway reads, compressed or expanded "
                "(nothing is kept; asked again, answered without a read)",
            ),
        ),
        422: ("NOT_A_FILESYSTEM", "FOREIGN_LAYER"),
    },
    UPSTREAM,
)


# The answers of a file's bytes, by a layer or by an image.
FILE_BYTES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The file's bytes", "content": {"application/octet-stream": {}}},
    304: {"description": "Not modified (If-None-Match matched its sha256)"},
    **INDEXING,
    **LISTING_ERRORS,
}


# -- one layer ---------------------------------------------------------------------------


@router.get(
    "/api/repositories/{name:repository}/layers/{digest}/files",
    response_model=FileListing,
    responses={**INDEXING, **LISTING_ERRORS},
    summary="A layer's files",
)
async def layer_files(
    state: State,
    caller: CurrentCaller,
    name: RepoName,
    digest: Digest,
    path: DirPath = "/",
    recursive: Recursive = False,
    n: PageSize = 200,
    last: Last = None,
    image: Image = None,
    platform: Platform = None,
    wait: Wait = None,
) -> Any:
    """The entries of one layer (whiteouts and opaque markers included), read once per
    layer digest into an index; sorted by path, paged."""
    found = await state.files.layer_files(
        caller,
        name,
        digest,
        image=image,
        platform=platform,
        wait=wait,
        path=path,
        recursive=recursive,
        last=last,
        n=n,
    )
    return answer(found)


@router.get(
    "/api/repositories/{name:repository}/layers/{digest}/file",
    response_class=Response,
    responses=FILE_BYTES,
    summary="A file of a layer, as an attachment",
)
async def layer_file(
    request: Request,
    state: State,
    caller: CurrentCaller,
    name: RepoName,
    digest: Digest,
    path: Path,
    image: Image = None,
    platform: Platform = None,
    wait: Wait = None,
) -> Response:
    """A regular file's bytes (``application/octet-stream``, an attachment, ``nosniff``,
    ``ETag`` = its sha256), read with about one checkpoint span of the layer. A symlink
    is not followed."""
    found = await state.files.layer_file(
        caller, name, digest, path, image=image, platform=platform, wait=wait
    )
    return await file_answer(request, found)


@router.get(
    "/api/repositories/{name:repository}/layers/{digest}/file/preview",
    response_model=FilePreview,
    responses={**INDEXING, **LISTING_ERRORS},
    summary="A file of a layer, as text",
)
async def layer_file_preview(
    state: State,
    caller: CurrentCaller,
    name: RepoName,
    digest: Digest,
    path: Path,
    image: Image = None,
    platform: Platform = None,
    wait: Wait = None,
) -> Any:
    """The first 64 KiB of a regular file as UTF-8 text, or ``binary`` with ``text: null``."""
    found = await state.files.layer_preview(
        caller, name, digest, path, image=image, platform=platform, wait=wait
    )
    return answer(found)


# -- an image's merged file system -------------------------------------------------------


@router.get(
    "/api/repositories/{name:repository}/images/{reference}/files",
    response_model=FileListing,
    responses={**INDEXING, **LISTING_ERRORS},
    summary="An image's files (its layers merged)",
)
async def image_files(
    state: State,
    caller: CurrentCaller,
    name: RepoName,
    reference: Reference,
    platform: Platform = None,
    path: DirPath = "/",
    recursive: Recursive = False,
    include_deleted: Annotated[
        bool, Query(description="Also what a layer deleted, with deleted_by.")
    ] = False,
    n: PageSize = 200,
    last: Last = None,
    wait: Wait = None,
) -> Any:
    """The merged file system of one platform image: later layers win, whiteouts delete,
    an opaque directory hides what earlier layers had below it. Foreign layers are
    never fetched (``complete: false``)."""
    found = await state.files.image_files(
        caller,
        name,
        reference,
        platform=platform,
        wait=wait,
        path=path,
        recursive=recursive,
        include_deleted=include_deleted,
        last=last,
        n=n,
    )
    return answer(found)


@router.get(
    "/api/repositories/{name:repository}/images/{reference}/file",
    response_class=Response,
    responses=FILE_BYTES,
    summary="A file of an image, as an attachment",
)
async def image_file(
    request: Request,
    state: State,
    caller: CurrentCaller,
    name: RepoName,
    reference: Reference,
    path: Path,
    platform: Platform = None,
    wait: Wait = None,
) -> Response:
    """The bytes of the file the image shows at ``path`` (from the highest layer that
    has it), as an attachment."""
    found = await state.files.image_file(
        caller, name, reference, path, platform=platform, wait=wait
    )
    return await file_answer(request, found)


@router.get(
    "/api/repositories/{name:repository}/images/{reference}/file/preview",
    response_model=FilePreview,
    responses={**INDEXING, **LISTING_ERRORS},
    summary="A file of an image, as text",
)
async def image_file_preview(
    state: State,
    caller: CurrentCaller,
    name: RepoName,
    reference: Reference,
    path: Path,
    platform: Platform = None,
    wait: Wait = None,
) -> Any:
    """The first 64 KiB of the file the image shows at ``path``, as text."""
    found = await state.files.image_preview(
        caller, name, reference, path, platform=platform, wait=wait
    )
    return answer(found)


@router.get(
    "/api/repositories/{name:repository}/images/{reference}/layers/{digest}/changes",
    response_model=LayerChanges,
    responses={**INDEXING, **LISTING_ERRORS},
    summary="What one layer of an image changed",
)
async def layer_changes(
    state: State,
    caller: CurrentCaller,
    name: RepoName,
    reference: Reference,
    digest: Digest,
    platform: Platform = None,
    change: Annotated[
        Literal["added", "removed", "changed"] | None, Query(description="Only these entries.")
    ] = None,
    path: Annotated[
        str | None, Query(max_length=4096, description="Only entries below this directory.")
    ] = None,
    n: PageSize = 200,
    last: Last = None,
    wait: Wait = None,
) -> Any:
    """The paths one layer added, removed or changed in the file system of the layers
    below it (the image's per-layer view); counts over the whole layer."""
    found = await state.files.layer_changes(
        caller,
        name,
        reference,
        digest,
        platform=platform,
        wait=wait,
        change=change,
        path=path,
        last=last,
        n=n,
    )
    return answer(found)


# -- two images --------------------------------------------------------------------------


@router.get(
    "/api/repositories/{name:repository}/diff",
    response_model=ImageDiff,
    responses={**INDEXING, **LISTING_ERRORS},
    summary="The differences between two images",
)
async def image_diff(
    state: State,
    caller: CurrentCaller,
    name: RepoName,
    from_reference: Annotated[
        str, Query(alias="from", max_length=200, pattern=REFERENCE, description="Tag or digest.")
    ],
    to_reference: Annotated[
        str, Query(alias="to", max_length=200, pattern=REFERENCE, description="Tag or digest.")
    ],
    from_repository: Annotated[
        str | None,
        Query(max_length=255, description="The repository of from (default: this one)."),
    ] = None,
    platform: Platform = None,
    change: Annotated[
        Literal["added", "removed", "changed"] | None, Query(description="Only these entries.")
    ] = None,
    path: Annotated[
        str | None, Query(max_length=4096, description="Only entries below this directory.")
    ] = None,
    n: PageSize = 200,
    last: Last = None,
    wait: Wait = None,
) -> Any:
    """Layers shared and not, config differences, and the files added, removed and
    changed (by content, mode, owner or link target; an mtime alone is no change) between
    two platform images, ``from`` of ``from_repository`` (default: this repository)."""
    found = await state.files.diff(
        caller,
        name,
        from_reference,
        to_reference,
        from_repository=from_repository,
        platform=platform,
        change=change,
        path=path,
        last=last,
        n=n,
        wait=wait,
    )
    return answer(found)
