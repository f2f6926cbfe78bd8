"""Islands: sub-populations that evolve apart and exchange their best every few generations (as OpenEvolve's
and REvolve's islands do), so one lucky lineage does not take every sample.

Every candidate belongs to one island (``Candidate.island``, stored; migration m007_islands). A child joins
an island that offered its parent in the generation it was proposed for (``island_for``): normally its
parent's own island; the destination of a migrant; or an island that had nothing to offer and borrowed the
run's best. Where several islands offered the same parent, the child joins the one with the fewest of that
parent's children so far in the generation (its own island first on a tie), so borrowed and migrating parents
spread their children over the islands that asked for them. A candidate with no parent (the baseline, a
model's first samples) is dealt round-robin: the k-th such candidate joins island k mod N.

What each island offers in a generation (``plan``): its best by the population's ranking, then — in a
generation that is a multiple of ``--migrate-every`` — the best of the previous island in the ring
(island N−1's best goes to island 0), then a person's scored edits on it not shown yet, then its second
best. An island with nothing scored borrows the run's best. ``parents`` interleaves the islands (island 0's
first, island 1's first, …, island 0's second, …; an island with fewer cycles through its own), so sample i
of a generation, built on ``parents[i % len(parents)]``, covers every island equally.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from ...errors import RunStoreError
from ..candidates import Candidate

if TYPE_CHECKING:
    from ..held import Held

PER_ISLAND = 2  # an island's own best this many are its parents (with any migrant and edits)


def home(c: Candidate, islands: int) -> int:
    """The island ``c`` belongs to (a candidate recorded without one, as tests make, is on island 0)."""
    return (c.island or 0) % max(1, islands)


def migrates(generation: int, migrate_every: int, islands: int) -> bool:
    """Whether islands exchange their best when designing ``generation``."""
    return islands > 1 and generation > 0 and migrate_every > 0 and generation % migrate_every == 0


@dataclass
class Plan:
    """What each island offers the designer of one generation."""

    islands: list[list[Candidate]]          # per island, its parents, the likeliest first
    migrants: dict[int, str] = field(default_factory=dict)   # island -> the id of the migrant it received
    borrowed: list[int] = field(default_factory=list)        # islands that had nothing and borrowed the best

    @property
    def parents(self) -> list[Candidate]:
        """The islands' parents interleaved (the module docstring)."""
        longest = max((len(p) for p in self.islands if p), default=0)
        return [own[j % len(own)] for j in range(longest) for own in self.islands if own]

    def offers(self) -> dict[str, list[int]]:
        """For each parent id, the islands that offered it: its own island first, then the others in order."""
        out: dict[str, list[int]] = {}
        n = len(self.islands)
        for k, own in enumerate(self.islands):
            for c in own:
                out.setdefault(c.id, []).append(k)
        by_id = {c.id: c for own in self.islands for c in own}
        return {cid: sorted(ks, key=lambda k: (k != home(by_id[cid], n), k)) for cid, ks in out.items()}

    def to_json(self) -> dict:
        return {"islands": [[c.id for c in own] for own in self.islands], "offers": self.offers(),
                "migrants": {str(k): v for k, v in self.migrants.items()}, "borrowed": self.borrowed}


def plan(ranked: list[Candidate], islands: int, generation: int, migrate_every: int,
         edits: Sequence[Candidate] = (), fallback: Candidate | None = None) -> Plan:
    """Each island's parents for ``generation`` (the module docstring); ``ranked``: the candidates that may
    be parents, best first; ``edits``: a person's scored edits not shown yet; ``fallback``: the parent when
    nothing is ranked (the baseline)."""
    n = max(1, islands)
    by_island: list[list[Candidate]] = [[c for c in ranked if home(c, n) == k] for k in range(n)]
    best = ranked[0] if ranked else fallback
    out = Plan([[] for _ in range(n)])
    for k in range(n):
        own = list(by_island[k][:1])
        if migrates(generation, migrate_every, n) and by_island[(k - 1) % n]:
            migrant = by_island[(k - 1) % n][0]
            own.append(migrant)
            out.migrants[k] = migrant.id
        own += [e for e in edits if home(e, n) == k]
        own += by_island[k][1:PER_ISLAND]
        if not own and best is not None:
            own = [best]
            out.borrowed.append(k)
        out.islands[k] = list({c.id: c for c in own}.values())  # each once, in order
    return out


def island_for(store, parent: str | None, generation: int, islands: int, held: Held | None = None) -> int:
    """The island a new candidate of ``generation`` with this ``parent`` joins (the module docstring), from
    the generation's recorded offers (meta ``population.g<generation>``, written by ``design_context``);
    ``held``: the run's candidates as the generation holds them (archive/held.py; None: the store's)."""
    n = max(1, islands)
    if parent is None:
        if held is not None:
            return sum(1 for c in held.all() if c.parent is None) % n
        row = store.db.execute("SELECT COUNT(*) FROM candidates WHERE parent IS NULL").fetchone()
        return row[0] % n
    offered = (store.meta(f"population.g{generation}") or {}).get("offers", {}).get(parent)
    if offered:
        children = {k: 0 for k in offered}
        mine = held.all() if held is not None else store.candidates(generation=generation)
        for c in mine:
            if c.generation == generation and c.parent == parent and c.island in children:
                children[c.island] += 1
        return min(offered, key=lambda k: (children[k], offered.index(k)))
    known = held.get(parent) if held is not None else None
    try:  # a parent not held (recorded since the generation's start) is read
        return home(known if known is not None else store.candidate(parent), n)
    except RunStoreError:  # an unknown parent id (a designer's mistake) is dealt like a candidate without one
        return island_for(store, None, generation, n, held)
