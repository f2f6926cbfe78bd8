"""The ``rewardsmith`` command line (CONTRACT §3).

Heavy libraries (litellm, torch, stable-baselines3) are imported inside the commands that use them,
so ``--help``, ``tasks`` and ``check`` start fast. Expected failures (``RewardsmithError``) print a
clean message and exit with status 2; a rejected reward in ``check`` exits with status 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .cli_common import _console, _edit_candidate, _Group, _sandbox_option, _use_sandbox
from .cli_evolve import evolve
from .errors import ConfigError


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rewardsmith")
def main():
    """rewardsmith: LLM-written reward functions for reinforcement learning, checked, trained, scored."""


main.add_command(evolve)


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
    """Lists the shipped tasks with their environment, default budget, time per training and goal."""
    import shutil
    import textwrap

    from .task import list_tasks

    # two lines a task, so that it reads at 80 columns: the facts, then the goal cut to the width (and a third,
    # its budget note cut to the width, where the baseline does not clearly beat the sparse reward)
    width = shutil.get_terminal_size().columns
    rows = []
    for task in list_tasks():
        seconds = task.training.estimated_seconds()
        took = "?" if seconds is None else f"~{seconds:.0f} s" if seconds < 100 else f"~{seconds / 60:.1f} min"
        rows.append((task.name, task.env_id, f"{task.training.timesteps:,}", took, " ".join(task.goal.split()),
                     " ".join(task.training.budget_note.split()).split(". ", 1)[0]))  # its first sentence
    name_w = max(len("task"), *(len(r[0]) for r in rows))
    env_w = max(len("environment"), *(len(r[1]) for r in rows))
    steps_w = max(len("timesteps"), *(len(r[2]) for r in rows))
    click.echo(f"{'task':<{name_w}}  {'environment':<{env_w}}  {'timesteps':>{steps_w}}  one training")
    for name, env_id, steps, took, goal, note in rows:
        click.echo(f"{name:<{name_w}}  {env_id:<{env_w}}  {steps:>{steps_w}}  {took}")
        click.echo(textwrap.shorten(goal, max(20, width - 5), placeholder=" ...", initial_indent="    "))
        if note:
            click.echo(textwrap.shorten(note, max(20, width - 5), placeholder=" ...", initial_indent="    budget: "))
    click.echo("\n" + textwrap.fill(
        "one training: PPO at the default budget on one idle core, from the env steps/s measured for the task "
        "(TRAINING['steps_per_second'], benchmarks/training_throughput.py); start-up and evaluation add a few "
        "seconds, a busy core more. budget: why, at that budget, the baseline does not clearly beat the sparse "
        "reward (the whole note: TRAINING['budget_note'] in the task file; the figures: "
        "benchmarks/results/task_table.md).",
        max(40, width - 1)))


@main.command()
def doctor():
    """Says what this machine gives rewardsmith (each sandbox layer, rendering, the browser, PyTorch,
    cores) and what to install for anything missing; exit 0 if --sandbox strict would run, else 1."""
    import shutil

    from .host.doctor import findings, render, strict_problem

    found = findings()
    strict = strict_problem(found)
    click.echo(render(found, strict, shutil.get_terminal_size().columns - 1))
    sys.exit(0 if strict is None else 1)


@main.command()
@click.option("--task", "task_name", required=True, help="Task name or path to a task file.")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--transitions", default=300, show_default=True, help="Random transitions to call the reward on.")
@_sandbox_option
def check(task_name, file, transitions, sandbox):
    """Runs the critic on a reward file: exit 0 if accepted, 1 with every reason if rejected."""
    from .intake.critic import Critic
    from .task import load_task
    from .output.view import printable

    task = load_task(task_name)
    path = Path(file)
    if not path.is_file():
        raise ConfigError(f"reward file {file} does not exist")
    _use_sandbox(sandbox)
    verdict = Critic(task, transitions=transitions).check(path.read_text())
    click.echo(f"{path} for task {task.name}:")
    click.echo(printable(verdict.report()))  # it quotes what the reward's process said
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
@_sandbox_option
def train(task_name, reward, timesteps, seeds, seed, workers, as_json, sandbox):
    """Trains PPO with a reward and prints fitness (mean ± std over seeds) and throughput."""
    import json

    from rich.text import Text

    from .intake.critic import Critic
    from .task import load_task
    from .training.trainer import Budget, train as run_training
    from .output.view import printable

    task = load_task(task_name)
    code, label = _read_reward(task, reward)
    err = _console(stderr=True)
    _use_sandbox(sandbox)
    if code is not None and label not in ("baseline", "sparse"):
        verdict = Critic(task).check(code)
        if not verdict.accepted:
            click.echo(printable(verdict.report()), err=True)
            sys.exit(1)
    budget = Budget(timesteps or task.training.timesteps)
    seed_list = list(range(seed, seed + seeds))
    err.print(f"training {task.name} with the {label} reward: {budget.timesteps:,} steps × "
              f"{seeds} seed(s) ({task.env_id})")

    def progress(s, snap):
        fit = "-" if snap.fitness is None else f"{snap.fitness:.3g}"
        err.print(f"  seed {s}  step {snap.step:>8,}  reward/step {snap.reward_per_step:8.3g}  "
                  f"training fitness {fit}")

    score = run_training(task, code, seed_list, budget, workers=workers, on_progress=progress)
    components = score.component_summary()
    if as_json:
        click.echo(json.dumps({
            "task": task.name, "reward": label, "fitness": {"mean": score.mean, "std": score.std,
                                                            "per_seed": [r.fitness for r in score.runs]},
            "seeds": score.seeds, "timesteps": score.timesteps, "steps_per_second": score.steps_per_second,
            "components": {k: v.final for k, v in components.items()},
        }))
        return
    out = _console()
    out.print(f"[bold]fitness[/]: {score.label()}  (per seed: "
              f"{', '.join(f'{r.fitness:.4g}' for r in score.runs)})")
    if components:
        out.print("components (mean per step at the end of training):")
        for name, entry in components.items():  # names come from reward code: never markup, one line
            out.print(Text(f"  {printable(name, one_line=True):<24} {entry.final:>10.4g}"))
    out.print(f"throughput: {score.steps_per_second:,.0f} env steps/s per process")
    for run in score.runs:
        if run.stopped_early:
            out.print(Text(f"seed {run.seed} stopped early: {printable(run.stopped_early, one_line=True)}",
                           style="yellow"))


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the contract's JSON document.")
@click.option("--candidate", help="Print one candidate in full: code, verdict, analysis, reflection.")
@click.option("--population", is_flag=True, help="Print only the population: islands, behaviour cells and their "
                                                  "elites, duplicates, the offline designer's operator statistics "
                                                  "(with --json: as JSON).")
def show(run_dir, as_json, candidate, population):
    """The run at a glance (or one candidate in full, or its population)."""
    import json

    from .archive.store import RunStore
    from .output.population import population_lines
    from .output.view import printable, show_candidate, show_json, show_run

    from .people.preferences import run_summary

    store = RunStore(run_dir)
    if population:
        from .output.population import population_json

        click.echo(json.dumps(population_json(store), indent=2) if as_json else "\n".join(population_lines(store)))
    elif as_json:
        click.echo(json.dumps({**show_json(store), "preferences": run_summary(store).to_json()}, indent=2))
    elif candidate:
        show_candidate(store, store.candidate(candidate), _console())
    else:
        show_run(store, _console())
        click.echo(printable(run_summary(store).line()))  # reasons and ids are people's and models' text
        click.echo("\n".join(population_lines(store)))  # cell labels are printable already


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("a")
@click.argument("b")
@click.option("--equal", is_flag=True, help="A and B are equally good (instead of A better than B).")
@click.option("--reason", help="Why, in a few words (the page and `show` show it).")
def prefer(run_dir, a, b, equal, reason):
    """Records a person's preference of candidate A over B (or --equal)."""
    from .people.preferences import run_summary
    from .archive.store import RunStore
    from .output.view import printable

    store = RunStore(run_dir)
    pid = store.add_preference(a, b, "equal" if equal else "better", (reason or "").strip() or None, source="cli")
    click.echo(f"preference #{pid} recorded: {a} {'equal to' if equal else 'better than'} {b}")
    click.echo(printable(run_summary(store).line()))


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
def serve(run_dir, open_browser, port):
    """A local page on 127.0.0.1 to watch a run live, compare candidates and record preferences."""
    from .archive.store import RunStore
    from .people.web.server import PageServer

    RunStore(run_dir).close()  # a clear error for a directory that holds no run
    server = PageServer(run_dir, port=port)
    click.echo(f"serving {run_dir} at {server.url}\n(the token in the address is the key to the page; Ctrl-C stops)")
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--candidate", help="The candidate the feedback is about (default: the whole run).")
@click.option("--text", required=True, help="What you saw and what you want.")
def feedback(run_dir, candidate, text):
    """Attaches a person's feedback; the next generation's prompt carries it."""
    from .archive.store import RunStore

    if not text.strip():
        raise ConfigError("--text is empty")
    store = RunStore(run_dir)
    fid = store.add_feedback(text.strip(), candidate)
    click.echo(f"feedback #{fid} recorded{' for ' + candidate if candidate else ''}; the next generation "
               f"will see it (rewardsmith evolve --resume {run_dir})")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("candidate_id")
@click.option("--file", type=click.Path(dir_okay=False), help="Take the edited code from this file instead of $EDITOR.")
@click.option("--no-screen", is_flag=True, help="Skip screening on the run's recorded episodes (the critic still checks it).")
def edit(run_dir, candidate_id, file, no_screen):
    """Opens a candidate's code in $EDITOR; the checked and screened edit joins the population as a new
    candidate."""
    from .archive.store import RunStore
    from .task import load_task_file

    store = RunStore(run_dir)
    task = load_task_file(store.root / "task.py")
    sys.exit(0 if _edit_candidate(store, task, candidate_id, file, screen=not no_screen) else 1)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--candidate", help="Candidate to export (default: the run's best by the most evidence, "
                                  "as `show` names it: the final scoring on fresh seeds where the run has one).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .py file to write.")
def export(run_dir, candidate, output):
    """Writes a standalone reward module (numpy, math and gymnasium only)."""
    from .output.export import export_module, run_meta
    from .archive.selection import best_of_run
    from .archive.store import RunStore
    from .task import load_task_file

    store = RunStore(run_dir)
    task = load_task_file(store.root / "task.py")
    chosen = store.candidate(candidate) if candidate else best_of_run(store)
    if chosen is None:
        raise ConfigError(f"{run_dir} has no scored candidate to export yet")
    if chosen.status != "scored":
        raise ConfigError(f"candidate {chosen.id} is {chosen.status}"
                          f"{': ' + chosen.reason.splitlines()[0] if chosen.reason else ''}; only scored "
                          f"candidates can be exported")
    meta = run_meta(store, chosen)  # the final multi-seed score where the run has one
    path = export_module(task, chosen.code, meta, output)
    click.echo(f"wrote {path}: {chosen.id} (fitness {meta['fitness_mean']:.4g}) for {task.name}; "
               f"use it with: from {path.stem} import RewardWrapper; env = RewardWrapper(gymnasium.make(...))")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
def report(run_dir):
    """Writes an HTML report of the run (plots, code, analysis) to DIR/report.html."""
    from .output.report import write_report

    path = write_report(run_dir)
    click.echo(f"wrote {path}")


if __name__ == "__main__":
    main()
