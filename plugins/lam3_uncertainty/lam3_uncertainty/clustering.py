"""Greedy semantic clustering of each prompt's sampled answers, and the bounded cache through which
several metrics share one clustering."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Sequence

from lam3_uncertainty.equivalence import Equivalence


def greedy_clusters(views: Sequence[Sequence[str]], equivalence: Equivalence) -> list[tuple[int, ...]]:
    """Cluster ids of each item's answers (0..C-1 in order of first appearance).

    Answer i opens a cluster if it is still unassigned; every later *unassigned* answer j that is
    equivalent to i joins it. j is compared with the cluster's opener only, never with its later
    members, so the result is not transitive (a~b and b~c but not a~c: c opens its own cluster).
    (jlko's ``get_semantic_ids`` also re-labels a j that already joined an earlier cluster; here a
    cluster, once joined, is kept.)

    The work is batched across items: each round takes the next opener of every unfinished item
    and asks the test about all its (opener, unassigned later answer) pairs in one call. Identical
    texts are equivalent without asking; a distinct pair is asked once.
    """
    equivalence.prepare([text for item in views for text in item])
    ids = [[-1] * len(item) for item in views]
    opened = [0] * len(views)
    known: dict[tuple[str, str], bool] = {}
    while True:
        waiting: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
        progressed = False
        for k, item in enumerate(views):
            opener = next((i for i, c in enumerate(ids[k]) if c == -1), None)
            if opener is None:
                continue
            progressed = True
            cluster = ids[k][opener] = opened[k]
            opened[k] += 1
            for j in range(opener + 1, len(item)):
                if ids[k][j] != -1:
                    continue
                if item[j] == item[opener]:
                    ids[k][j] = cluster
                else:
                    pair = (item[opener], item[j]) if item[opener] <= item[j] else (item[j], item[opener])
                    waiting.setdefault(pair, []).append((k, j, cluster))
        if not progressed:
            return [tuple(item_ids) for item_ids in ids]
        ask = [pair for pair in waiting if pair not in known]
        known.update(zip(ask, equivalence.equivalent_pairs(ask) if ask else []))
        for pair, members in waiting.items():
            if known[pair]:
                for k, j, cluster in members:
                    ids[k][j] = cluster


class ClusterCache:
    """Clusterings already made, keyed by the equivalence test's ``key`` and the compared texts.

    Holds at most ``max_items`` clusterings and drops the least recently used first. Metrics
    that share one instance (``SHARED_CLUSTERS`` by default) and use equal equivalence settings
    cluster each item once: semantic_entropy, discrete_semantic_entropy and num_semantic_sets
    on the same answers ask the NLI or embedding model once. ``computed`` and ``reused`` count
    items clustered and items found in the cache.
    """

    def __init__(self, max_items: int = 100_000):
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        self.max_items = max_items
        self._store: OrderedDict[str, tuple[int, ...]] = OrderedDict()
        self.computed = 0
        self.reused = 0

    def __len__(self) -> int:
        return len(self._store)

    def clusters(self, equivalence: Equivalence, views: Sequence[Sequence[str]]) -> list[tuple[int, ...]]:
        """Cluster ids per item, clustering only the items not seen before with this test."""
        keys = [self._key(equivalence.key, item) for item in views]
        found: dict[str, tuple[int, ...]] = {}
        for key in keys:
            if key in self._store and key not in found:
                self._store.move_to_end(key)
                found[key] = self._store[key]
        todo = {key: item for key, item in zip(keys, views) if key not in found}
        fresh = dict(zip(todo, greedy_clusters(list(todo.values()), equivalence))) if todo else {}
        self.computed += len(fresh)
        self.reused += len(keys) - len(fresh)
        for key, item_ids in fresh.items():
            self._store[key] = item_ids
            if len(self._store) > self.max_items:
                self._store.popitem(last=False)
        return [found[key] if key in found else fresh[key] for key in keys]

    @staticmethod
    def _key(equivalence_key: str, views: Sequence[str]) -> str:
        return hashlib.sha256(json.dumps([equivalence_key, list(views)]).encode()).hexdigest()


SHARED_CLUSTERS = ClusterCache()
"""The cache every metric of this distribution uses unless given its own ``clusters=``."""
