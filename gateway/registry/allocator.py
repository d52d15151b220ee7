"""glibc's allocator kept from handing streaming buffers back to the kernel after each
piece (``tune()``, once per process, when the upstream clients are built).

A blob streamed through the gateway passes through buffers of 64 KiB to 1 MiB (the
socket reads, the pieces handed on, a pushed body waiting to be sent on). With glibc's
defaults, a freed piece at the top of the heap is given back to the kernel as soon as
more than about twice the largest such buffer is free there, and the next piece faults
fresh, zeroed pages in again: measured on a 200 MiB pull, a third of the gateway's CPU
time went to page faults and zeroing pages (bench/bench_blobs.py). Keeping up to
``TRIM_BYTES`` of free heap instead of giving it back halves the CPU per GiB pulled and
cuts a third off pushes; the process holds at most that much more, once.

Fixed thresholds also stop glibc's own adjustment of where ``mmap`` starts, so that is
set too: allocations from ``MMAP_BYTES`` up get memory of their own, returned whole
when freed (a large document read from the registry never stays in the heap).

Values given in the environment (``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_``,
glibc's own tunables) are left as they are; on another C library this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger("gateway.upstream")

TRIM_BYTES = 16 * 1024 * 1024
MMAP_BYTES = 4 * 1024 * 1024
_M_TRIM_THRESHOLD = -1  # glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_ENVIRONMENT = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")

_tuned = False


def tune() -> bool:
    """Set glibc's trim and mmap thresholds (once per process). False when they were
    left alone: not glibc, or set in the environment."""
    global _tuned
    if _tuned:
        return True
    if any(name in os.environ for name in _ENVIRONMENT):
        return False
    path = ctypes.util.find_library("c")
    if path is None:
        return False
    try:
        libc = ctypes.CDLL(path)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if not (mallopt(_M_MMAP_THRESHOLD, MMAP_BYTES) and mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES)):
        log.warning("the allocator's thresholds could not be set")
        return False
    _tuned = True
    return True
