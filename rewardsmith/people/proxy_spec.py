"""A proxy person's SPEC (``evolve --proxy-person SPEC``, described in ``people/proxy.py``) parsed and
checked. Apart from the person itself, so that checking a config does not import the page's pair choosing
(``people/web/data.py``) and everything it reads."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

STATS = ("abs-mean", "mean", "min", "max", "abs-max", "std", "final")


@dataclass(frozen=True)
class ProxySpec:
    """What the proxy person judges by (SPEC in ``people/proxy.py``'s docstring)."""

    field: str
    stat: str = "abs-mean"
    prefer: str = "low"
    error: float = 0.0
    pairs: int = 2

    def text(self) -> str:
        return f"field={self.field},stat={self.stat},prefer={self.prefer},error={self.error:g},pairs={self.pairs}"


def parse_spec(text: str, task=None) -> ProxySpec:
    """The SPEC ``text`` as a ProxySpec; with ``task``, its field must be one of the task's. A bad part is a
    ConfigError that names it and says what is expected (the fields that exist, for a bad field)."""
    flag = "--proxy-person"
    parts: dict[str, str] = {}
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key or not value:
            raise ConfigError(f"{flag}: {part!r} is not key=value (e.g. field=torso_angle,stat=abs-mean,"
                              f"prefer=low,error=0.1)")
        if key not in ProxySpec.__dataclass_fields__:
            raise ConfigError(f"{flag}: unknown key {key!r} in {part!r}; the keys are field, stat, prefer, error, pairs")
        if key in parts:
            raise ConfigError(f"{flag}: {key!r} given twice")
        parts[key] = value
    if "field" not in parts:
        raise ConfigError(f"{flag}: no field=NAME (the state field the proxy person judges by)"
                          + (f"; the task's fields: {', '.join(task.fields)}" if task is not None else ""))
    if task is not None and parts["field"] not in task.fields:
        raise ConfigError(f"{flag}: field={parts['field']!r}: task {task.name} has no such state field; "
                          f"its fields: {', '.join(task.fields)}")
    stat = parts.get("stat", "abs-mean")
    if stat not in STATS:
        raise ConfigError(f"{flag}: stat={stat!r}: expected one of {', '.join(STATS)}")
    prefer = parts.get("prefer", "low")
    if prefer not in ("low", "high"):
        raise ConfigError(f"{flag}: prefer={prefer!r}: expected low or high")
    try:
        error = float(parts.get("error", "0"))
    except ValueError:
        raise ConfigError(f"{flag}: error={parts['error']!r}: expected a probability between 0 and 0.5") from None
    if not (0.0 <= error <= 0.5):
        raise ConfigError(f"{flag}: error={parts['error']!r}: expected a probability between 0 and 0.5")
    try:
        pairs = int(parts.get("pairs", "2"))
    except ValueError:
        raise ConfigError(f"{flag}: pairs={parts['pairs']!r}: expected a whole number of at least 1") from None
    if pairs < 1:
        raise ConfigError(f"{flag}: pairs={parts['pairs']!r}: expected a whole number of at least 1")
    return ProxySpec(parts["field"], stat, prefer, error, pairs)
