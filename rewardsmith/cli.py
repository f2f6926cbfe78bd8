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
            from rich.markup import escape

            # escaped: messages quote code and commands with brackets (pip install 'rewardsmith[ray]')
            _console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, soft_wrap=True)
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


def _llm_client(config, store, evolution_ref):
    import os

    from .evolve import default_cache_dir
    from .llm import LLMClient, LLMConfig

    def record(call: dict) -> None:
        evolution = evolution_ref.get("evolution")
        store.record_llm_call(call, generation=evolution.current_generation if evolution else None)

    api_key = None
    if config.api_base and config.model.startswith("openai/") and not os.environ.get("OPENAI_API_KEY"):
        api_key = "no-key-needed"  # local OpenAI-compatible servers ignore it; the client insists on one
    llm_config = LLMConfig(model=config.model, api_base=config.api_base, temperature=config.temperature,
                           timeout=config.llm_timeout, max_cost=config.max_cost, api_key=api_key,
                           cache_dir=default_cache_dir())
    return LLMClient(llm_config, recorder=record, already_spent=store.llm_totals()["cost"])


class _Fraction(click.ParamType):
    name = "FRACTION"

    def convert(self, value, param, ctx):
        from fractions import Fraction

        try:
            return float(Fraction(str(value)))
        except (ValueError, ZeroDivisionError):
            self.fail(f"{value!r} is not a fraction (e.g. 1/9 or 0.25)", param, ctx)


_RESOURCES = ("workers", "executor", "ray_address", "ray_cpus_per_task")  # a resumed run may change these


def _compute_options(command):
    """The evolve options of how training compute is spent (schedule.py, executor.py)."""
    options = [
        click.option("--schedule", type=click.Choice(["halving", "full"]),
                     help="halving (default): every candidate trains a fraction of the budget and only the best "
                          "continue, resuming from their checkpoints; full: every candidate gets the whole budget."),
        click.option("--halving-eta", type=click.IntRange(2), help="Successive halving keeps the best 1/ETA at "
                     "each rung (default 3)."),
        click.option("--halving-min-fraction", type=_Fraction(), help="The first rung's fraction of the budget; "
                     "rungs are 1, 1/ETA, 1/ETA², ... down to it (default 1/9: rungs 1/9, 1/3, 1)."),
        click.option("--final-top", type=click.IntRange(1), help="Candidates re-scored on --final-seeds seeds "
                     "after the last generation (default 3)."),
        click.option("--final-seeds", type=click.IntRange(0), help="Fresh seeds of the final scoring of the top "
                     "candidates, the baseline and the sparse reward (default 3; 0: none)."),
        click.option("--executor", type=click.Choice(["local", "ray"]), help="local processes (default) or Ray "
                     "tasks (pip install 'rewardsmith[ray]')."),
        click.option("--ray-address", help="An existing Ray cluster: auto, or the head's HOST:PORT (ray://HOST:10001 "
                     "needs pip install 'ray[client]'); default: a local Ray with --workers CPUs, started on the fly."),
        click.option("--ray-cpus-per-task", type=float, help="CPUs each Ray training asks for (default 1)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _compute_config(workers, compute: dict) -> dict:
    """EvolveConfig fields from the compute options that were given."""
    return {k: v for k, v in dict(compute, workers=workers).items() if v is not None}


# what `evolve --resume` may change: how long the run goes, where training runs, the model's address and
# the spending limit (a run stopped by --max-cost continues with a higher one); the rest is the run's own
_RESUME_CHANGES = {"resume", "iterations", "interactive", "model", "api_base", "max_cost", *_RESOURCES}


def _resume_changes(config, **changes) -> None:
    """Applies the options a resumed run may change; any other option given is an error, never ignored."""
    ctx = click.get_current_context()
    given = sorted(name for name in ctx.params if ctx.get_parameter_source(name) in
                   (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT))
    fixed = [name for name in given if name not in _RESUME_CHANGES]
    if fixed:
        names = ", ".join("--" + name.replace("_", "-") for name in fixed)
        raise ConfigError(f"{names}: fixed when the run started; a resumed run may change only --iterations, "
                          f"--workers, the Ray options, --model, --api-base and --max-cost")
    if changes.get("model") and config.designer != "llm":
        raise ConfigError(f"--model: this run uses the {config.designer} designer; start a new run with --model")
    for name, value in changes.items():
        if name in given:
            setattr(config, name, value)


@main.command()
@click.option("--task", "task_name", help="Task name or path to a task file.")
@click.option("--resume", type=click.Path(file_okay=False), help="Continue the run in this directory.")
@click.option("--model", help="litellm model string, e.g. openai/gpt-4o-mini (default: $REWARDSMITH_MODEL).")
@click.option("--api-base", help="Base URL of an OpenAI-compatible server (vLLM, Ollama, LM Studio, ...).")
@click.option("--designer", type=click.Choice(["llm", "offline"]),
              help="llm when a model is configured, else offline (AST mutation, no network).")
@click.option("--iterations", type=int, help="Generations (default 3; with --resume: raise it to extend the run).")
@click.option("--samples", type=int, help="Candidates per generation (default 4).")
@click.option("--timesteps", type=int, help="PPO steps per candidate (default: the task's).")
@click.option("--workers", type=int, help="Candidates trained at once, one process each (default: all cores).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of training and design.")
@click.option("--repairs", type=int, default=1, show_default=True, help="Repair rounds for a rejected reward.")
@click.option("--temperature", type=float, default=1.0, show_default=True, help="LLM sampling temperature.")
@click.option("--max-cost", type=float, help="Stop cleanly once LLM spending reaches this many USD.")
@click.option("--prompts", "prompts_dir", type=click.Path(file_okay=False), help="Directory of prompt templates overriding the shipped ones.")
@click.option("--env-source", is_flag=True, help="Show the environment's source code to the model (as Eureka does).")
@click.option("--llm-analyzer", is_flag=True, help="The model diagnoses each trained policy from its analysis.")
@click.option("--llm-critic", is_flag=True, help="The model reviews each reward before training and may veto it.")
@click.option("--interactive", is_flag=True, help="Pause after each generation for feedback or edits.")
@click.option("--feedback-replaces-reflection", is_flag=True,
              help="When there is human feedback, the prompt shows it instead of the automatic analysis.")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default: runs/<time>-<task>).")
@_compute_options
def evolve(task_name, resume, model, api_base, designer, iterations, samples, timesteps, workers, seed,
           repairs, temperature, max_cost, prompts_dir, env_source, llm_analyzer, llm_critic, interactive,
           feedback_replaces_reflection, out,
           **compute):
    """The main job: evolves reward functions for a task and keeps the best."""
    from dataclasses import asdict

    from .designer import LLMDesigner, OfflineDesigner
    from .evolve import EvolveConfig, Evolution, default_run_dir
    from .prompting import Prompts
    from .store import RunStore
    from .task import load_task, load_task_file
    from .view import LiveView

    err = _console(stderr=True)
    if resume:
        if task_name:
            raise ConfigError("--resume continues a run with its own settings; drop --task")
        store = RunStore(resume)
        config = EvolveConfig.from_dict(store.config)
        _resume_changes(config, model=model, api_base=api_base, max_cost=max_cost)
        if iterations is not None and iterations != config.iterations:
            if iterations < config.iterations:
                raise ConfigError(f"--iterations {iterations} is below the run's {config.iterations}; "
                                  f"a resumed run can only be extended")
            config.iterations = iterations
        for key, value in _compute_config(workers, compute).items():
            setattr(config, key, value)
        config.validate()
        store.update_config(asdict(config))
        task = load_task_file(store.root / "task.py")
        err.print(f"resuming {store.root} (status: {store.meta('status')})")
    else:
        if not task_name:
            raise ConfigError("evolve needs --task NAME (or --resume DIR)")
        from .llm import resolve_model

        task = load_task(task_name)
        model, api_base = resolve_model(model, api_base)
        chosen = designer or ("llm" if model else "offline")
        if chosen == "offline" and not designer:
            err.print("[yellow]no model configured (--model or REWARDSMITH_MODEL): using the offline designer "
                      "(mutation of the human baseline; no network)[/]")
        config = EvolveConfig(task=task.name, designer=chosen, model=model, api_base=api_base,
                              temperature=temperature, iterations=3 if iterations is None else iterations,
                              samples=4 if samples is None else samples,
                              timesteps=timesteps, seed=seed, repairs=repairs,
                              max_cost=max_cost, prompts=prompts_dir and str(Path(prompts_dir).resolve()),
                              env_source=env_source, llm_analyzer=llm_analyzer, llm_critic=llm_critic,
                              feedback_replaces_reflection=feedback_replaces_reflection,
                              **_compute_config(workers, compute))
        config.validate()
        store = RunStore.create(Path(out) if out else default_run_dir(task.name), asdict(config), task.path)
    ref = {}
    client = _llm_client(config, store, ref) if config.model else None
    if config.designer == "llm":
        chosen_designer = LLMDesigner(client, Prompts(config.prompts), env_source=config.env_source)
    else:
        chosen_designer = OfflineDesigner()
    view = LiveView(store, task_name=task.name)
    evolution = Evolution(store, task, config, chosen_designer, on_event=view, client=client,
                          between_generations=_pause(store, task, view) if interactive else None)
    ref["evolution"] = evolution
    try:
        with view:
            evolution.run()
    except KeyboardInterrupt:
        err.print(f"\n[yellow]interrupted.[/] Nothing scored is lost; continue with:\n"
                  f"  rewardsmith evolve --resume {store.root}")
        sys.exit(130)
    except RewardsmithError as exc:
        store.set_meta("status", "stopped: error")
        raise type(exc)(f"{exc}\nThe run is saved; continue it with: rewardsmith evolve --resume {store.root}") from exc
    _summary(store, _console())


def _pause(store, task, view):
    """--interactive: after each generation, a summary and a prompt (works over ssh, no GUI)."""

    def between(generation: int) -> bool:
        from .view import show_run

        with view.paused():
            out = _console()
            show_run(store, out)
            while True:
                choice = click.prompt(
                    f"generation {generation} done: [c]ontinue, [f]eedback, [e]dit a candidate, [s]top",
                    type=click.Choice(["c", "f", "e", "s"]), default="c", show_choices=False)
                if choice == "c":
                    return True
                if choice == "s":
                    return False
                if choice == "f":
                    about = click.prompt("candidate id (empty: the whole run)", default="", show_default=False)
                    text = click.prompt("feedback")
                    try:
                        store.add_feedback(text, about.strip() or None)
                        click.echo("recorded; the next generation's prompt carries it")
                    except RewardsmithError as exc:
                        click.echo(f"error: {exc}")
                if choice == "e":
                    cid = click.prompt("candidate id to edit")
                    try:
                        _edit_candidate(store, task, cid.strip(), None)
                    except RewardsmithError as exc:
                        click.echo(f"error: {exc}")

    return between


def _summary(store, out) -> None:
    from .view import fmt

    best, baseline = store.best_of_run(), store.baseline()
    out.print(f"\nrun directory: {store.root}")
    if best is None:
        out.print("no candidate was scored")
        return
    line = f"best: {best.id} fitness {fmt(best.fitness)}"
    if baseline is not None and baseline.fitness is not None:
        line += f"   baseline (human reward, same budget): {fmt(baseline.fitness)}"
    out.print(line)
    from .view import show_final

    show_final(store, out)
    out.print(f"export it with: rewardsmith export {store.root} -o {store.config['task'].replace('-', '_')}_reward.py")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the contract's JSON document.")
@click.option("--candidate", help="Print one candidate in full: code, verdict, analysis, reflection.")
def show(run_dir, as_json, candidate):
    """The run at a glance (or one candidate in full)."""
    import json

    from .store import RunStore
    from .view import show_candidate, show_json, show_run

    store = RunStore(run_dir)
    if as_json:
        click.echo(json.dumps(show_json(store), indent=2))
    elif candidate:
        show_candidate(store, store.candidate(candidate), _console())
    else:
        show_run(store, _console())


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--candidate", help="The candidate the feedback is about (default: the whole run).")
@click.option("--text", required=True, help="What you saw and what you want.")
def feedback(run_dir, candidate, text):
    """Attaches a person's feedback; the next generation's prompt carries it."""
    from .store import RunStore

    if not text.strip():
        raise ConfigError("--text is empty")
    store = RunStore(run_dir)
    fid = store.add_feedback(text.strip(), candidate)
    click.echo(f"feedback #{fid} recorded{' for ' + candidate if candidate else ''}; the next generation "
               f"will see it (rewardsmith evolve --resume {run_dir})")


def _edit_text(text: str) -> str | None:
    """Opens ``text`` in $EDITOR (or $VISUAL) and gives the result (None when the editor was quit)."""
    edited = click.edit(text, extension=".py", require_save=True)
    return edited


def _edit_candidate(store, task, cid: str, file: str | None) -> bool:
    from .human import add_edit

    original = store.candidate(cid)
    if file:
        path = Path(file)
        if not path.is_file():
            raise ConfigError(f"--file {file} does not exist")
        code = path.read_text()
    else:
        code = _edit_text(original.code)
        if code is None:
            click.echo("editor closed without saving; nothing recorded")
            return False
    candidate, verdict, draft = add_edit(store, task, cid, code)
    if candidate is None:
        click.echo(verdict.report())
        click.echo(f"the edit was rejected; your code is kept in {draft} "
                   f"(fix it and run: rewardsmith edit {store.root} {cid} --file {draft})")
        return False
    click.echo(f"accepted as {candidate.id} (parent {cid}); it is trained in generation "
               f"{candidate.generation}: rewardsmith evolve --resume {store.root}")
    return True


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("candidate_id")
@click.option("--file", type=click.Path(dir_okay=False), help="Take the edited code from this file instead of $EDITOR.")
def edit(run_dir, candidate_id, file):
    """Opens a candidate's code in $EDITOR; the checked edit joins the population as a new candidate."""
    from .store import RunStore
    from .task import load_task_file

    store = RunStore(run_dir)
    task = load_task_file(store.root / "task.py")
    sys.exit(0 if _edit_candidate(store, task, candidate_id, file) else 1)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--candidate", help="Candidate to export (default: the run's best).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .py file to write.")
def export(run_dir, candidate, output):
    """Writes a standalone reward module (numpy, math and gymnasium only)."""
    from .export import export_module
    from .store import RunStore
    from .task import load_task_file

    store = RunStore(run_dir)
    task = load_task_file(store.root / "task.py")
    chosen = store.candidate(candidate) if candidate else store.best_of_run()
    if chosen is None:
        raise ConfigError(f"{run_dir} has no scored candidate to export yet")
    if chosen.status != "scored":
        raise ConfigError(f"candidate {chosen.id} is {chosen.status}"
                          f"{': ' + chosen.reason.splitlines()[0] if chosen.reason else ''}; only scored "
                          f"candidates can be exported")
    final = (chosen.result or {}).get("final") or {}
    meta = {"candidate": chosen.id, "run": store.root.name,
            "fitness_mean": final.get("mean", chosen.fitness),
            "fitness_std": final.get("std", chosen.fitness_std or 0.0),
            "seeds": final.get("seeds", chosen.seeds), "timesteps": final.get("timesteps", chosen.timesteps)}
    path = export_module(task, chosen.code, meta, output)
    click.echo(f"wrote {path}: {chosen.id} (fitness {meta['fitness_mean']:.4g}) for {task.name}; "
               f"use it with: from {path.stem} import RewardWrapper; env = RewardWrapper(gymnasium.make(...))")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
def report(run_dir):
    """Writes an HTML report of the run (plots, code, analysis) to DIR/report.html."""
    from .report import write_report

    path = write_report(run_dir)
    click.echo(f"wrote {path}")


if __name__ == "__main__":
    main()
