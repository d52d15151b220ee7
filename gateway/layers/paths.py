"""Paths inside a layer, normalised once as they are read, then only compared as text.

A tar may name an entry ``./usr/bin/x``, ``usr//bin/./x``, ``/usr/bin/x`` or
``../../usr/bin/x``: all are ``/usr/bin/x`` here. ``..`` is resolved inside the root and
never climbs above it (as a container runtime extracts a layer), so no path reported or
stored can escape ``/``. These strings are keys in the index and values in answers; the
gateway never builds a path on its own disk from them.
"""

from __future__ import annotations

from gateway.errors import UpstreamInvalid

#: Longest path kept (Linux's PATH_MAX); a longer name makes the layer invalid.
MAX_PATH_BYTES = 4096
WHITEOUT_PREFIX = ".wh."
#: The marker that makes its directory opaque (hides what lower layers had below it).
OPAQUE_NAME = ".wh..wh..opq"


def decode(raw: bytes) -> str:
    """A tar name as text: UTF-8 (what PAX mandates and every builder writes); bytes that
    are not UTF-8 are shown escaped (``\\xff``) rather than dropped."""
    return raw.decode("utf-8", errors="backslashreplace")


def normalise(name: str) -> str:
    """The absolute, ``/``-separated form of a name inside the layer (``/`` for the
    root itself)."""
    if len(name) > MAX_PATH_BYTES or len(name.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise UpstreamInvalid(
            f"the layer names an entry longer than {MAX_PATH_BYTES} bytes",
            detail={"reason": "name_too_long"},
        )
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def parent(path: str) -> str:
    """``/usr/bin`` for ``/usr/bin/x``; ``/`` for ``/x`` (and for ``/``)."""
    head = path.rsplit("/", 1)[0]
    return head or "/"


def basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def child(directory: str, name: str) -> str:
    return ("" if directory == "/" else directory) + "/" + name


def ancestors(path: str) -> list[str]:
    """The directories above ``path``, from ``/`` down (``/`` has none)."""
    if path == "/":
        return []
    out = ["/"]
    parts = path.strip("/").split("/")[:-1]
    current = ""
    for part in parts:
        current += "/" + part
        out.append(current)
    return out


def subtree_bounds(directory: str) -> tuple[str, str]:
    """``(low, high)`` such that exactly the paths strictly below ``directory`` satisfy
    ``low <= path < high`` in code-point (and so UTF-8 byte) order."""
    prefix = "/" if directory == "/" else directory + "/"
    return prefix, prefix[:-1] + "0"  # '0' is the character after '/'


def is_below(path: str, directory: str) -> bool:
    """Whether ``path`` is ``directory`` itself or below it."""
    if directory == "/":
        return True
    return path == directory or path.startswith(directory + "/")
