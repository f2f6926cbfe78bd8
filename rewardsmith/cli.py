"""The ``rewardsmith`` command line (CONTRACT §3).

Heavy libraries (litellm, torch, stable-baselines3) are imported inside the commands that use them,
so ``--help``, ``tasks`` and ``check`` start fast. Expected failures (``RewardsmithError``) print a
clean message and exit with status 2; a rejected reward in ``check`` exits with status 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .host.confinement import SANDBOX_HELP, SANDBOX_MODES
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

            from .output.view import printable

            # escaped: messages quote code and commands with brackets (pip install 'rewardsmith[ray]'), and
            # what a sandboxed child printed (its log tail), which may hold terminal escape codes
            _console(stderr=True).print(f"[bold red]error:[/] {escape(printable(exc))}", markup=True, soft_wrap=True)
            sys.exit(2)


_sandbox_option = click.option("--sandbox", type=click.Choice(SANDBOX_MODES), default=None, help=SANDBOX_HELP)


def _use_sandbox(mode: str | None) -> None:
    """Makes ``mode`` (--sandbox) the mode of every sandboxed job this command starts, and checks it
    before any work: strict raises SandboxUnavailable when this machine cannot honour it."""
    import os

    from .host.launch import check_sandbox

    if mode:
        os.environ["REWARDSMITH_SANDBOX"] = mode  # read by each job this process and its workers start
    check_sandbox()


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
    """Lists the shipped tasks with their environment, default budget, time per training and goal."""
    import shutil
    import textwrap

    from .task import list_tasks

    # two lines a task, so that it reads at 80 columns: the facts, then the goal cut to the width
    width = shutil.get_terminal_size().columns
    rows = []
    for task in list_tasks():
        seconds = task.training.estimated_seconds()
        took = "?" if seconds is None else f"~{seconds:.0f} s" if seconds < 100 else f"~{seconds / 60:.1f} min"
        rows.append((task.name, task.env_id, f"{task.training.timesteps:,}", took, " ".join(task.goal.split())))
    name_w = max(len("task"), *(len(r[0]) for r in rows))
    env_w = max(len("environment"), *(len(r[1]) for r in rows))
    steps_w = max(len("timesteps"), *(len(r[2]) for r in rows))
    click.echo(f"{'task':<{name_w}}  {'environment':<{env_w}}  {'timesteps':>{steps_w}}  one training")
    for name, env_id, steps, took, goal in rows:
        click.echo(f"{name:<{name_w}}  {env_id:<{env_w}}  {steps:>{steps_w}}  {took}")
        click.echo(textwrap.shorten(goal, max(20, width - 5), placeholder=" ...", initial_indent="    "))
    click.echo("\n" + textwrap.fill(
        "one training: PPO at the default budget on one idle core, from the env steps/s measured for the task "
        "(TRAINING['steps_per_second'], benchmarks/training_throughput.py); start-up and evaluation add a few "
        "seconds, a busy core more.",
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


def _llm_client(config, store, evolution_ref):
    import os

    from .config import default_cache_dir
    from .design.llm import LLMClient, LLMConfig

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


def _setting_options(command):
    """The evolve options, one per declared setting of rewardsmith.config.EvolveConfig (help, type and
    default come from there; bounds are checked by EvolveConfig.validate with the option's name)."""
    from .config import SETTINGS, EvolveConfig, option_name

    defaults = EvolveConfig(task="")
    for name, decl in reversed(list(SETTINGS.items())):
        if not decl.option:
            continue
        default = getattr(defaults, name)
        if decl.fraction:
            from fractions import Fraction

            default = Fraction(default).limit_denominator(1000)
        shown = "" if default is None or isinstance(default, bool) or name == "workers" else \
            f" (default: {default:g})" if isinstance(default, float) else f" (default: {default})"
        if decl.kind is bool:
            option = click.option(option_name(name), name, is_flag=True, help=decl.help)
        else:
            kind = click.Choice(decl.choices) if decl.choices else _Fraction() if decl.fraction else \
                {int: click.INT, float: click.FLOAT, str: click.STRING}[decl.kind]
            option = click.option(option_name(name), name, type=kind, help=decl.help + shown)
        command = option(command)
    return command


def _given_settings(params: dict) -> dict:
    """The settings given on the command line (or by environment), by name; the rest keep their defaults."""
    from .config import SETTINGS

    ctx = click.get_current_context()
    given = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    return {name: value for name, value in params.items()
            if name in SETTINGS and ctx.get_parameter_source(name) in given}


@main.command()
@click.option("--task", "task_name", help="Task name or path to a task file.")
@click.option("--resume", type=click.Path(file_okay=False), help="Continue the run in this directory.")
@click.option("--interactive", is_flag=True, help="Pause after each generation for feedback or edits.")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default: runs/<time>-<task>).")
@click.option("--serve", "serve_page", is_flag=True,
              help="Also serve the run's page on 127.0.0.1 while it runs (as `rewardsmith serve DIR`); "
                   "with --interactive, a pause can be answered there too.")
@click.option("--pause-timeout", type=click.FloatRange(0, min_open=True), default=None,
              help="With --interactive: continue by itself after this many seconds without an answer.")
@_setting_options
def evolve(task_name, resume, interactive, out, serve_page, pause_timeout, **params):
    """The main job: evolves reward functions for a task and keeps the best."""
    from .design.base import default_designer, designer_plugin
    from .config import default_run_dir
    from .loop import EvolveConfig, Evolution
    from .archive.store import RunStore
    from .task import load_task, load_task_file
    from .output.view import LiveView

    err = _console(stderr=True)
    if pause_timeout is not None and not interactive:
        raise ConfigError("--pause-timeout: only with --interactive (it is how long a pause waits)")
    settings = _given_settings(params)
    if settings.get("prompts"):
        settings["prompts"] = str(Path(settings["prompts"]).resolve())
    if resume:
        if task_name or out:
            raise ConfigError(f"{'--task' if task_name else '--out'}: --resume continues a run in its own "
                              f"directory with its own settings; drop it")
        store = RunStore(resume)
        config = EvolveConfig.from_dict(store.config, where=str(store.root / "config.json"))
        config = config.resumed_with(settings)
        _use_sandbox(config.sandbox)
        store.update_config(config.to_dict())
        task = load_task_file(store.root / "task.py")
        err.print(f"resuming {store.root} (status: {store.meta('status')})")
    else:
        if not task_name:
            raise ConfigError("evolve needs --task NAME (or --resume DIR)")
        from .design.llm import resolve_model

        task = load_task(task_name)
        settings["model"], settings["api_base"] = resolve_model(settings.get("model"), settings.get("api_base"))
        if "designer" not in settings:
            settings["designer"] = default_designer(has_model=bool(settings["model"]))
            if not designer_plugin(settings["designer"]).needs_model:
                err.print("[yellow]no model configured (--model or REWARDSMITH_MODEL): using the offline designer "
                          "(mutation of the human baseline; no network)[/]")
        config = EvolveConfig(task=task.name, **settings)
        config.validate()
        _use_sandbox(config.sandbox)
        store = RunStore.create(Path(out) if out else default_run_dir(task.name), config.to_dict(), task.path)
    ref = {}
    client = _llm_client(config, store, ref) if config.model else None
    chosen_designer = designer_plugin(config.designer).make(config, client)
    page = None
    if serve_page:
        from .people.web.server import PageServer

        page = PageServer(store.root)
        page.start()
        err.print(f"the run's page: {page.url}", markup=False, highlight=False)
    view = LiveView(store, task_name=task.name)
    evolution = Evolution(store, task, config, chosen_designer, on_event=view, client=client,
                          between_generations=_pause(store, task, view, page, pause_timeout) if interactive else None)
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
    finally:
        if page is not None:
            page.close()
    _summary(store, _console())


def _pause(store, task, view, page=None, timeout: float | None = None):
    """--interactive: after each generation, a summary and a prompt (works over ssh, no GUI); with the
    run's page served (``page``) or a ``timeout``, the page's Continue/Stop or the timeout answer it too."""

    def between(generation: int) -> bool:
        from .output.view import show_run

        with view.paused():
            out = _console()
            show_run(store, out)
            if page is not None:
                out.print(f"(or answer on the run's page: {page.url})", markup=False, highlight=False)
            while True:
                question = f"generation {generation} done: [c]ontinue, [f]eedback, [e]dit a candidate, [s]top"
                if page is None and timeout is None:
                    choice = click.prompt(question, type=click.Choice(["c", "f", "e", "s"]), default="c",
                                          show_choices=False)
                else:
                    from .people.web.pause import wait_for_choice

                    choice = wait_for_choice(store, generation, question, timeout, echo=click.echo)
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
    from .archive.selection import run_pick
    from .output.view import best_line, show_final

    best = run_pick(store)  # the same best as `show` and `export`
    out.print(f"\nrun directory: {store.root}")
    if best is None:
        out.print("no candidate was scored")
        return
    out.print(best_line(store, best), markup=False, highlight=False)
    show_final(store, out)
    out.print(f"export it with: rewardsmith export {store.root} -o {store.config['task'].replace('-', '_')}_reward.py")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the contract's JSON document.")
@click.option("--candidate", help="Print one candidate in full: code, verdict, analysis, reflection.")
def show(run_dir, as_json, candidate):
    """The run at a glance (or one candidate in full)."""
    import json

    from .archive.store import RunStore
    from .output.view import printable, show_candidate, show_json, show_run

    from .people.preferences import run_summary

    store = RunStore(run_dir)
    if as_json:
        click.echo(json.dumps({**show_json(store), "preferences": run_summary(store).to_json()}, indent=2))
    elif candidate:
        show_candidate(store, store.candidate(candidate), _console())
    else:
        show_run(store, _console())
        click.echo(printable(run_summary(store).line()))  # reasons and ids are people's and models' text


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


def _edit_text(text: str) -> str | None:
    """Opens ``text`` in $EDITOR (or $VISUAL) and gives the result (None when the editor was quit)."""
    edited = click.edit(text, extension=".py", require_save=True)
    return edited


def _edit_candidate(store, task, cid: str, file: str | None, screen: bool = True) -> bool:
    from .people.human import add_edit

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
    outcome = add_edit(store, task, cid, code, screen=screen)
    candidate = outcome.candidate
    if candidate is None:
        click.echo(outcome.report)
        again = f"rewardsmith edit {store.root} {cid} --file {outcome.draft}"
        click.echo(f"the edit was rejected; your code is kept in {outcome.draft} (fix it and run: {again}"
                   f"{'; or, to train it anyway: ' + again + ' --no-screen' if outcome.screening else ''})")
        return False
    click.echo(f"accepted as {candidate.id} (parent {cid}); it is trained in generation "
               f"{candidate.generation}: rewardsmith evolve --resume {store.root}")
    return True


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
