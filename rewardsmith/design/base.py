"""What every designer shares: the ``Proposal`` it gives, the ``DesignContext`` it is given, the
``Designer`` protocol, and the registry the built-in designers join the way a third party's would.

A designer only writes code: the population (``archive.selection``) decides which candidate is the
best so far, and the loop sends each proposal through the same intake, training and records.

A third party's designer is a module with a ``DESIGNER = DesignerPlugin(...)`` attribute, named in the
``rewardsmith.designers`` entry-point group of its distribution; the built-ins are found the same way,
from ``DEFAULT_DESIGNERS`` (as simonw/llm registers its own default plugins).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Callable, Protocol

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..archive.candidates import Candidate
    from ..archive.evidence import Pick
    from ..task import Task

DEFAULT_DESIGNERS = ("rewardsmith.design.llm_designer", "rewardsmith.design.offline")
ENTRY_POINT_GROUP = "rewardsmith.designers"


@dataclass
class Proposal:
    """A reward the designer offers, with where it came from."""

    code: str
    origin: str                 # llm | offline | baseline | repair | human
    parent: str | None = None
    notes: str = ""
    messages: list = field(default_factory=list)  # the prompt the code answered (for repairs)


@dataclass
class DesignContext:
    """What the designer of a generation is given; the population (archive/population/) fills it.

    The contract between the population and every designer:

    - ``parents``: the parents of this generation, the islands' interleaved: sample i of the generation
      builds on ``parents[i % len(parents)]``, so the samples cover every island equally;
    - ``inspirations``: a few (3) elites of behaviour cells none of the parents is in, across islands: other
      ways of solving the task to show or cross with, never the parent itself;
    - a proposal's ``parent`` id decides the island its candidate joins (population.island_for): set it to
      the parent the code was built on (None only for code built on no candidate);
    - ``preferences``: the run's standing preferences of a person, oldest first, each
      ``{"id", "preferred", "other", "outcome" ("better", "equal" or "unsure"), "reason"}`` (a person's text:
      untrusted, like reward code).
    """

    task: Task
    generation: int
    samples: int
    timesteps: int
    archive: list[Candidate]
    best: Candidate | None      # the run's best by selection.run_pick
    baseline: Candidate | None
    failures: list[Candidate]
    feedback: list[dict]
    human_edits: list[Candidate]
    seed: int = 0
    reflection: bool = True     # False: human feedback replaces the automatic reflection in the prompt
    best_score: Pick | None = None   # evidence.Pick: the score that makes ``best`` the best (None: its own)
    parents: list[Candidate] | None = None  # chosen by the population (archive/population.py), first the likeliest
    # Also chosen by the population: candidates from other islands and behaviour cells, shown beside the
    # parents so a designer sees different ways of solving the task, not only the best (issue 23)
    inspirations: list[Candidate] = field(default_factory=list)
    # A person's answers (people/preferences.py): preferred/rejected pairs with their reasons (ICPL)
    preferences: list[dict] = field(default_factory=list)
    # Proposals of earlier generations recorded as duplicates of another candidate, with the reason
    duplicates: list[Candidate] = field(default_factory=list)


class Designer(Protocol):
    """Writes reward code for a generation; one method per extension, as SB3's ``BaseCallback._on_step``."""

    name: str

    def propose(self, ctx: DesignContext) -> list[Proposal]:
        """Up to ``ctx.samples`` rewards for this generation."""

    def repair(self, proposal: Proposal, report: str) -> Proposal | None:
        """A fixed version of a proposal the intake rejected (``report`` says why), or None."""


@dataclass(frozen=True)
class DesignerPlugin:
    """A designer as the registry knows it: how a run makes one, and what the rest of rewardsmith needs
    to know about it without making one."""

    name: str
    make: Callable[[Any, Any], Designer]  # (the run's EvolveConfig, its LLM client or None) -> a designer
    needs_model: bool = False      # refuses to start without --model
    baseline_competes: bool = False  # the human baseline is its seed, so it can be the run's best
    title: str = ""                # what messages call it ("LLM designer")
    label: str = ""                # what the live view calls it ("model", "offline designer")


_registry: dict[str, DesignerPlugin] = {}


def designers() -> dict[str, DesignerPlugin]:
    """Every designer: the built-ins, then any installed through the entry-point group, by name."""
    if not _registry:
        found: dict[str, DesignerPlugin] = {}  # the registry is filled only once every module loaded
        for name in list(DEFAULT_DESIGNERS) + [e.value for e in entry_points(group=ENTRY_POINT_GROUP)]:
            try:
                plugin = importlib.import_module(name).DESIGNER
            except (ImportError, AttributeError) as exc:
                raise ConfigError(f"designer module {name!r} (entry-point group {ENTRY_POINT_GROUP}) cannot be "
                                  f"used: {exc}; a designer module defines DESIGNER = DesignerPlugin(name, make)") \
                    from exc
            found.setdefault(plugin.name, plugin)
        _registry.update(found)
    return _registry


def designer_plugin(name: str | None) -> DesignerPlugin | None:
    """The registered designer called ``name`` (None when there is none)."""
    return designers().get(name) if name else None


def default_designer(has_model: bool) -> str:
    """The designer a run uses when none is named: the model's when a model is configured."""
    return next(p.name for p in designers().values() if p.needs_model == has_model)
