"""The run's candidates as one generation's stages hand them on (intake, training, confirmation, the
recorder, videos): held in memory, so no stage re-reads a row the store already gave back."""

from __future__ import annotations

from typing import Iterable

from .store import PENDING, SCORED, TRAINING, Candidate, RunStore


class Held:
    """The run's candidates as a generation's stages hand them on, by id: read once at the generation's start,
    then each record a stage writes put back (``put``) as the store gave it, so no stage re-reads it."""

    def __init__(self, candidates: Iterable[Candidate] = ()):
        self.by_id = {c.id: c for c in candidates}
        # the recorded episodes intake judges on (intake/screening.py ``recorded``), read from the run's files
        # once: they come from scored records, so a put that scores a record (or un-scores one) drops them
        self.episodes: list | None = None

    @classmethod
    def read(cls, store: RunStore) -> "Held":
        """The store's candidates, read once (a resumed generation's start)."""
        return cls(store.candidates())

    def put(self, candidate: Candidate) -> Candidate:
        before = self.by_id.get(candidate.id)
        if candidate.status == SCORED or (before is not None and before.status == SCORED):
            self.episodes = None
        self.by_id[candidate.id] = candidate
        return candidate

    def get(self, cid: str) -> Candidate | None:
        return self.by_id.get(cid)

    def all(self) -> list[Candidate]:
        """Every candidate held, in the archive's order (``store.candidates``')."""
        return sorted(self.by_id.values(), key=lambda c: c.seq)

    def scored(self) -> list[Candidate]:
        return [c for c in self.all() if c.status == SCORED]

    def unfinished(self, generation: int) -> list[Candidate]:
        """``generation``'s candidates still to train (pending, or training when the run stopped)."""
        return [c for c in self.all() if c.generation == generation and c.status in (PENDING, TRAINING)]

    def baseline(self) -> Candidate | None:
        return next((c for c in self.all() if c.origin == "baseline"), None)
