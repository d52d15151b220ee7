"""Resume inflating a deflate stream at a bit that is not the first of its byte, with
Python's own zlib.

A gzip checkpoint is the start of a deflate block, and blocks start at any bit: zlib's
``inflatePrime`` feeds the few bits of the byte before the checkpoint to a fresh
inflater, but Python's ``zlib`` module does not expose it. Instead we put a prefix in
front of the compressed bytes: *empty* deflate blocks (they produce no output) whose
total length in bits ends exactly where the real block begins, the prefix's last bits
sharing that byte with the real block's first ones. The inflater then decodes the
prefix, outputs nothing, and carries on with the real block as if it had been primed.

Empty blocks of every length modulo 8 exist: a dynamic-Huffman block whose
literal/length code gives 8 bits to symbols 1..256 (256 symbols: a complete code) and
whose code lengths are written with ``m`` explicit lengths and the rest as repeats; each
``m`` changes its length by one bit. ``PREFIXES`` holds one per remainder, and a test
checks every one against zlib.
"""

from __future__ import annotations

from functools import cache

# The order in which a dynamic block lists the lengths of the code-length alphabet.
_CL_ORDER = (16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15)


def _value(value: int, count: int) -> list[int]:
    """``count`` bits of ``value``, least significant first (header fields, extras)."""
    return [(value >> i) & 1 for i in range(count)]


def _code(code: int, length: int) -> list[int]:
    """A Huffman code, most significant bit first (how deflate packs codes)."""
    return [(code >> (length - 1 - i)) & 1 for i in range(length)]


def _empty_block(explicit: int) -> list[int] | None:
    """A non-final dynamic block that outputs nothing; ``explicit`` tunes its length."""
    # BFINAL=0, BTYPE=2 (dynamic), HLIT=0 (257 codes), HDIST=0 (1 code), HCLEN=1 (5).
    bits = [0, *_value(2, 2), *_value(0, 5), *_value(0, 5), *_value(1, 4)]
    # Code-length code: '8' -> 0 (1 bit), '0' -> 10, '16' (repeat) -> 11.
    lengths = {16: 2, 17: 0, 18: 0, 0: 2, 8: 1}
    for symbol in _CL_ORDER[:5]:
        bits += _value(lengths[symbol], 3)
    eight, zero, repeat = _code(0, 1), _code(2, 2), _code(3, 2)
    bits += zero + eight  # symbol 0: unused; symbol 1: 8 bits
    rest = 255 - explicit  # symbols 2..256 minus the explicit ones, as repeats of 3..6
    repeats = -(-rest // 6)
    if repeats * 3 > rest:
        return None
    counts = [3] * repeats
    extra = rest - 3 * repeats
    for i in range(repeats):
        step = min(3, extra)
        counts[i] += step
        extra -= step
    for count in counts:
        bits += repeat + _value(count - 3, 2)
    bits += eight * explicit
    bits += zero  # the one distance code is unused
    bits += _code(255, 8)  # end of block: symbol 256, the last 8-bit code
    return bits


@cache
def prefix_bits(remainder: int) -> tuple[int, ...]:
    """Empty deflate blocks whose length in bits is ``remainder`` modulo 8."""
    for explicit in range(64):
        block = _empty_block(explicit)
        if block is not None and len(block) % 8 == remainder % 8:
            return tuple(block)
    raise AssertionError(f"no empty block of length {remainder} mod 8")  # pragma: no cover


def pack(bits: list[int] | tuple[int, ...]) -> bytes:
    out = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        out[i // 8] |= bit << (i % 8)
    return bytes(out)


def realigned_head(bits: int, shared_byte: int) -> bytes:
    """What replaces the byte before a checkpoint whose block starts ``bits`` bits before
    the checkpoint's byte offset (the high ``bits`` bits of ``shared_byte``): the prefix
    blocks, their last bits merged into that byte. Feed ``head + data[offset:]`` to a raw
    inflater whose dictionary is the checkpoint's window."""
    if not 1 <= bits <= 7:
        raise ValueError("bits must be 1..7 (0 needs no prefix)")
    used = 8 - bits  # low bits of the shared byte that belong to the previous block
    prefix = prefix_bits(used)
    whole, tail = prefix[: len(prefix) - used], prefix[len(prefix) - used :]
    merged = 0
    for i, bit in enumerate(tail):
        merged |= bit << i
    merged |= shared_byte & (0xFF << used) & 0xFF
    return pack(whole) + bytes([merged])
