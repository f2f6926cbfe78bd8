"""What the archive holds of a candidate: the ``Candidate`` row, its status, its training pool, and the
small rules read off one candidate (its code's hash, the fraction of the budget it trained)."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from .records import Analysis, CandidateResult, CriticVerdict, Timings

# candidate status: what happened to it so far
PENDING, TRAINING, SCORED, REJECTED, FAILED = "pending", "training", "scored", "rejected", "failed"
DONE = (SCORED, REJECTED, FAILED)


def code_hash(code: str) -> str:
    """The sha256 of reward code (what the archive deduplicates on and exports record)."""
    return hashlib.sha256(code.encode()).hexdigest()


def budget_fraction(c: "Candidate") -> float:
    """The fraction of the run's training budget a candidate's fitness was measured at: 1, or less when
    successive halving stopped it at a lower rung (its fitness then compares only with that rung's)."""
    fraction = c.result.budget_fraction if c.result is not None else None
    return min(1.0, 1.0 if fraction is None else fraction)


def full_budget(c: "Candidate") -> bool:
    """Whether a candidate's fitness was measured on the run's full training budget."""
    return budget_fraction(c) >= 1.0


def gzip_json(value) -> bytes:
    """``value`` as gzip-compressed JSON, as the run keeps episodes: at zlib's default level 6, about a
    third of the CPU time of gzip's 9 for files 1 % larger."""
    import gzip
    import json

    return gzip.compress(json.dumps(value).encode(), compresslevel=6)


def read_gzip_json(path: Path):
    """What ``gzip_json`` wrote to ``path``."""
    import gzip
    import json

    return json.loads(gzip.decompress(Path(path).read_bytes()))


def write_atomic(path: Path, data: bytes | str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass
class Candidate:
    """One row of the archive."""

    id: str
    generation: int
    parent: str | None
    origin: str
    code: str
    code_hash: str
    status: str
    reason: str | None = None
    verdict: CriticVerdict | None = None
    fitness: float | None = None
    fitness_std: float | None = None
    seeds: list | None = None
    timesteps: int | None = None
    steps_spent: int | None = None
    result: CandidateResult | None = None
    analysis: Analysis | None = None
    reflection: str | None = None
    notes: str | None = None
    created: float = 0.0
    updated: float = 0.0
    timings: Timings | None = None
    seq: int = 0
    duplicate_of: str | None = None  # the archived candidate this one duplicates (intake/duplicates.py)
    island: int | None = None  # the population's island it belongs to (archive/population/islands.py)

    def brief(self) -> dict:
        """The contract's ``show --json`` entry."""
        return {"id": self.id, "generation": self.generation, "parent": self.parent,
                "status": self.status, "fitness": self.fitness, "reason": self.reason}


@dataclass(frozen=True)
class TrainingPool:
    """Candidates of one generation that train together on the same rungs (successive halving, or a
    single full-budget rung)."""

    id: int
    generation: int
    members: list[str]
    rungs: list[int]
    eta: int
    schedule: str
