"""What an object graph holds in memory, measured by walking it (``deep_size``).

The model cache (``gateway.cache.ModelCache``) charges each parsed document and each
derived image row what this measures, so ``LR_MODEL_CACHE_BYTES`` bounds the memory
they really take, not a count of entries whose size varies a hundredfold (a one-layer
image against a config with hundreds of history entries).

The walk follows what a pydantic model, a dataclass, a dict, a list, a tuple or a set
holds, and counts each object once (``sys.getsizeof``). ``None``, booleans and other
shared singletons are free; strings and numbers shared with other graphs are counted
anyway — an over-estimate, so the budget holds. Measured against tracemalloc by
tests/test_model_cache.py.
"""

from __future__ import annotations

import sys
from dataclasses import fields, is_dataclass
from typing import Any

from pydantic import BaseModel

_FREE = frozenset({type(None), bool, type(Ellipsis)})
_LEAVES = frozenset({str, bytes, int, float, complex})
_SEQUENCES = frozenset({list, tuple, set, frozenset})


def deep_size(obj: Any) -> int:
    """The bytes held by ``obj`` and everything it refers to (each object once).

    About two to four times the cost of parsing the document it measures, paid once
    per document kept (the hot loop below inlines the strings of dicts, which are most
    of a parsed document's objects)."""
    getsizeof = sys.getsizeof
    seen: set[int] = set()
    mark = seen.add
    total = 0
    stack = [obj]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind in _FREE or id(item) in seen:
            continue
        mark(id(item))
        total += getsizeof(item)
        if kind in _LEAVES:
            continue
        if kind is dict:
            for pair in item.items():
                for part in pair:
                    if type(part) is str:
                        if id(part) not in seen:
                            mark(id(part))
                            total += getsizeof(part)
                    elif type(part) not in _FREE:
                        push(part)
        elif kind in _SEQUENCES:
            extend(item)
        elif isinstance(item, BaseModel):
            # A model's fields live in its __dict__; pydantic also keeps the set of the
            # fields given and, for extra="allow", the extra values.
            push(item.__dict__)
            push(item.__pydantic_fields_set__)
            if item.__pydantic_extra__:
                push(item.__pydantic_extra__)
        elif isinstance(item, dict):
            extend(item.keys())
            extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            extend(item)
        elif is_dataclass(item) and not isinstance(item, type):
            if hasattr(item, "__dict__"):
                push(item.__dict__)
            else:
                extend(getattr(item, f.name) for f in fields(item))
    return total
