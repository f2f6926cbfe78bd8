"""A candidate's score cards as ``rewardsmith show DIR --candidate ID`` prints them: every registered
scorer's card (scoring/: the built-ins and any installed through the ``rewardsmith.scorers`` entry-point
group) of the candidate as the run holds it, computed when shown from the facts the run stores once (its
row, the final scoring, the preferences), never stored again. A card is a third party's text: each string
of it is ``printable`` and printed as rich ``Text``, never read as markup; a scorer that raises is one line
of its own and hides no other's card."""

from __future__ import annotations

import math

from rich.console import Console
from rich.text import Text

from ..archive.candidates import Candidate
from ..untrusted import printable

MAX_TEXT = 300  # characters of one string of a card (or of a failing scorer's message) shown


def show_scores(store, c: Candidate, console: Console) -> None:
    """The "scores" block of ``show --candidate`` (nothing when no scorer has anything to say of ``c``)."""
    lines = score_lines(store, c)
    if lines:
        console.print("[bold]scores[/] (every registered scorer's card, computed now from what the run stores):")
        for line in lines:
            console.print(Text(f"  {line}"), soft_wrap=True)


def score_lines(store, c: Candidate) -> list[str]:
    """One printable line per registered scorer with something to say of ``c``: its name, metrics
    (name=value), seeds and evidence, and artifact names; or "scorer X failed: …" for one that raised."""
    from ..errors import ConfigError
    from ..scoring.base import Subject, judged

    try:
        results = judged(Subject.held(store, c))
    except ConfigError as exc:  # an installed scorer module that cannot be used
        return [f"scorers cannot be loaded: {_message(exc)}"]
    lines = []
    for name, card in results:
        if not isinstance(card, Exception):
            try:
                lines.append(card_line(name, card))
                continue
            except Exception as exc:  # a card whose fields are not what a ScoreCard holds
                card = exc
        lines.append(f"scorer {_text(name)} failed: {_message(card)}")
    return lines


def card_line(name: str, card) -> str:
    """e.g. "fitness: fitness=0.5 fitness_std=0.01 (2 seeds; final)  artifacts: plot.png"."""
    metrics = " ".join(f"{_text(k)}={_value(v)}" for k, v in dict(card.metrics).items()) or "no metrics"
    seeds = card.seeds
    over = f"{seeds} seed{'' if seeds == 1 else 's'}" if isinstance(seeds, int) else f"seeds {_text(seeds)}"
    line = f"{_text(name)}: {metrics} ({over}; {_text(card.evidence)})"
    artifacts = list(dict(card.artifacts or {}))
    return line + (f"  artifacts: {', '.join(_text(a) for a in artifacts)}" if artifacts else "")


def _value(v) -> str:
    """A metric compactly: a number to 4 significant digits, anything else as printable text."""
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return _text(v)
    return _text(repr(v))


def _text(value) -> str:
    """A card's string (or anything else) on one printable line, at most ``MAX_TEXT`` characters."""
    text = str(value)
    return printable(text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " [...]", one_line=True)


def _message(exc: Exception) -> str:
    try:
        return _text(f"{type(exc).__name__}: {exc}")
    except Exception:  # an exception whose own text raises
        return _text(type(exc).__name__)
