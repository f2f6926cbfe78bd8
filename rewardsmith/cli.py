"""The ``rewardsmith`` command line (CONTRACT §3).

Heavy libraries (litellm, torch, stable-baselines3) are imported inside the commands that use them,
so ``--help``, ``tasks`` and ``check`` start fast. Expected failures (``RewardsmithError``) print a
clean message and exit with status 2; a rejected reward in ``check`` exits with status 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .errors import ConfigError, RewardsmithError


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except RewardsmithError as exc:
            _console(stderr=True).print(f"[bold red]error:[/] {exc}", markup=True, soft_wrap=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rewardsmith")
def main():
    """rewardsmith: LLM-written reward functions for reinforcement learning, checked, trained, scored."""


def _read_reward(task, reward: str) -> tuple[str | None, str]:
    """(code or None for native, label) for --reward native|baseline|sparse|FILE.py."""
    if reward == "native":
        return None, "native"
    if reward == "baseline":
        return task.baseline, "baseline"
    if reward == "sparse":
        if not task.sparse:
            raise ConfigError(f"task {task.name!r} declares no SPARSE reward")
        return task.sparse, "sparse"
    path = Path(reward)
    if not path.is_file():
        raise ConfigError(f"--reward {reward!r}: expected native, baseline, sparse or a path to a .py file")
    return path.read_text(), str(path)


@main.command()
def tasks():
    """Lists the shipped tasks with their environment and goal."""
    from rich.table import Table

    from .task import list_tasks

    table = Table(show_lines=False)
    for column in ("task", "environment", "timesteps", "goal"):
        table.add_column(column, overflow="fold")
    for task in list_tasks():
        goal = task.goal if len(task.goal) < 90 else task.goal[:87] + "..."
        table.add_row(task.name, task.env_id, f"{task.training.timesteps:,}", goal)
    _console().print(table)


@main.command()
@click.option("--task", "task_name", required=True, help="Task name or path to a task file.")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--transitions", default=300, show_default=True, help="Random transitions to call the reward on.")
def check(task_name, file, transitions):
    """Runs the critic on a reward file: exit 0 if accepted, 1 with every reason if rejected."""
    from .critic import Critic
    from .task import load_task

    task = load_task(task_name)
    path = Path(file)
    if not path.is_file():
        raise ConfigError(f"reward file {file} does not exist")
    verdict = Critic(task, transitions=transitions).check(path.read_text())
    click.echo(f"{path} for task {task.name}:")
    click.echo(verdict.report())
    sys.exit(0 if verdict.accepted else 1)


@main.command()
@click.option("--task", "task_name", required=True, help="Task name or path to a task file.")
@click.option("--reward", default="baseline", show_default=True,
              help="native (the environment's reward), baseline, sparse, or a reward .py file.")
@click.option("--timesteps", type=int, default=None, help="PPO steps per seed (default: the task's).")
@click.option("--seeds", type=click.IntRange(1), default=1, show_default=True, help="Number of seeds.")
@click.option("--seed", type=int, default=0, show_default=True, help="First seed.")
@click.option("--workers", type=click.IntRange(1), default=1, show_default=True, help="Seeds trained at once.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def train(task_name, reward, timesteps, seeds, seed, workers, as_json):
    """Trains PPO with a reward and prints fitness (mean ± std over seeds) and throughput."""
    import json

    from .critic import Critic
    from .task import load_task
    from .trainer import Budget, train as run_training

    task = load_task(task_name)
    code, label = _read_reward(task, reward)
    err = _console(stderr=True)
    if code is not None and label not in ("baseline", "sparse"):
        verdict = Critic(task).check(code)
        if not verdict.accepted:
            click.echo(verdict.report(), err=True)
            sys.exit(1)
    budget = Budget(timesteps or task.training.timesteps)
    seed_list = list(range(seed, seed + seeds))
    err.print(f"training {task.name} with the {label} reward: {budget.timesteps:,} steps × "
              f"{seeds} seed(s) ({task.env_id})")

    def progress(s, snap):
        fit = "-" if snap["fitness"] is None else f"{snap['fitness']:.3g}"
        err.print(f"  seed {s}  step {snap['step']:>8,}  reward/step {snap['reward_per_step']:8.3g}  "
                  f"training fitness {fit}")

    score = run_training(task, code, seed_list, budget, workers=workers, on_progress=progress)
    components = score.component_summary()
    if as_json:
        click.echo(json.dumps({
            "task": task.name, "reward": label, "fitness": {"mean": score.mean, "std": score.std,
                                                            "per_seed": [r.fitness for r in score.runs]},
            "seeds": score.seeds, "timesteps": score.timesteps, "steps_per_second": score.steps_per_second,
            "components": {k: v["final"] for k, v in components.items()},
        }))
        return
    out = _console()
    out.print(f"[bold]fitness[/]: {score.label()}  (per seed: "
              f"{', '.join(f'{r.fitness:.4g}' for r in score.runs)})")
    if components:
        out.print("components (mean per step at the end of training):")
        for name, entry in components.items():
            out.print(f"  {name:<24} {entry['final']:>10.4g}")
    out.print(f"throughput: {score.steps_per_second:,.0f} env steps/s per process")
    for run in score.runs:
        if run.stopped_early:
            out.print(f"[yellow]seed {run.seed} stopped early: {run.stopped_early}[/]")


if __name__ == "__main__":
    main()
