"""Seeded mutations of nested documents (configurations, events) for fuzz tests."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator, Sequence
from typing import Any


def paths(node: object, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value below `node` (keys and list indexes), parents before children."""
    if prefix:
        yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from paths(child, (*prefix, i))


def mutate(rng: random.Random, data: Any, values: Sequence[object], changes: int = 3) -> None:
    """Replace 1 to `changes` values at random paths of `data` by copies of random `values`."""
    for _ in range(rng.randint(1, changes)):
        path = rng.choice(list(paths(data)))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = copy.deepcopy(rng.choice(values))
