"""Prompts for the designer: jinja2 templates in prompts/ (``--prompts DIR`` overrides any of them)."""

from __future__ import annotations

import inspect
from pathlib import Path

from ..errors import ConfigError
from ..task import Task


class Prompts:
    """Renders the designer's templates; a template in ``override`` wins over the shipped one."""

    def __init__(self, override: str | Path | None = None):
        from ..templating import prompt_environment

        if override and not Path(override).is_dir():
            raise ConfigError(f"--prompts {override}: not a directory")
        self.env = prompt_environment(override, (("fence", fence), ("quote", quote), ("untrusted", untrusted)))

    def render(self, name: str, **context) -> str:
        import jinja2

        try:
            return self.env.get_template(name).render(**context).strip() + "\n"
        except jinja2.TemplateError as exc:
            raise ConfigError(f"prompt template {name}: {type(exc).__name__}: {exc}") from exc

    def system(self) -> str:
        return self.render("system.j2")

    def initial(self, task: Task, timesteps: int, env_source: bool = False) -> str:
        return self.render("initial.j2", **task_context(task, timesteps, env_source))

    def iteration(self, task: Task, **context) -> str:
        shown: dict[str, object] = {"parent": None, "inspirations": [], "preferences": [], "duplicates": []}  # what a caller may omit
        return self.render("iteration.j2", task=task, **{**shown, **context})

    def repair(self, report: str) -> str:
        return self.render("repair.j2", report=report)


def untrusted(text) -> str:
    """Text a model, a person or reward code wrote, as a prompt shows it: control, bidirectional and
    zero-width characters made visible (untrusted.printable), so nothing in it reads other than it is."""
    from ..untrusted import printable

    return printable("" if text is None else str(text).strip())


def fence(text, lang: str = "python") -> str:
    """Untrusted text as a fenced block whose fence is longer than any run of backticks inside it
    (CommonMark's rule), so the text cannot close the block and speak as the prompt."""
    import re

    body = untrusted(text)
    ticks = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", body)), default=0))
    return f"{ticks}{lang}\n{body}\n{ticks}"


def quote(text, limit: int = 300) -> str:
    """A person's short text (a preference's reason) as one quoted line, at most ``limit`` characters."""
    from ..untrusted import printable

    line = printable("" if text is None else str(text).strip(), one_line=True)
    return '"' + (line if len(line) <= limit else line[:limit] + " …") + '"'


def task_context(task: Task, timesteps: int, env_source: bool = False) -> dict:
    """What the first prompt says about a task: fields, observation and action layout, source."""
    env = task.make_env()
    try:
        obs_space, act_space = env.observation_space, env.action_space
        max_steps = getattr(env.spec, "max_episode_steps", None) or "an unbounded number of"
        source = _env_source(env) if env_source else ""
    finally:
        env.close()
    return {
        "task": task, "fields": list(task.fields.values()), "timesteps": f"{timesteps:,}",
        "observation": _describe_space(obs_space), "action": _describe_space(act_space),
        "max_steps": max_steps, "env_source": source,
    }


def _describe_space(space) -> str:
    shape = getattr(space, "shape", None)
    name = type(space).__name__
    if name == "Discrete":
        return f"a discrete choice in {{0, ..., {space.n - 1}}} (given to compute_reward as a numpy integer)"
    if shape is not None and hasattr(space, "low"):
        low, high = space.low.min(), space.high.max()
        return f"a float array of shape {shape} with values in [{low:.3g}, {high:.3g}]"
    return repr(space)


def _env_source(env, limit: int = 6000) -> str:
    """The source of the environment's step and observation methods (as Eureka shows it)."""
    cls = type(env.unwrapped)
    parts = []
    for name in ("_get_obs", "step", "_get_rew", "is_healthy"):
        member = getattr(cls, name, None)
        source = member.fget if isinstance(member, property) else member
        if source is None:  # absent, or a property without a getter
            continue
        try:
            parts.append(inspect.getsource(source))
        except (OSError, TypeError):
            continue
    return "\n".join(parts)[:limit]
