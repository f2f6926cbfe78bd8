"""The ``evolve`` command: the main job (CONTRACT §3), its options (one per declared setting of
config.EvolveConfig), the LLM client it records calls with, --interactive's pause and the closing summary."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .cli_common import _console, _edit_candidate, _use_sandbox
from .errors import ConfigError, RewardsmithError


def _llm_client(config, store, evolution_ref):
    from .design.run_llm import run_client

    def generation() -> int | None:
        evolution = evolution_ref.get("evolution")
        return evolution.current_generation if evolution else None

    return run_client(config, store, generation)


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


@click.command()
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
    from .archive.events import Events
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
        _proxy(config, task)  # a bad --proxy-person field is said before the run directory is made
        _use_sandbox(config.sandbox)
        store = RunStore.create(Path(out) if out else default_run_dir(task.name), config.to_dict(), task.path)
    ref = {}
    client = _llm_client(config, store, ref) if config.model else None
    chosen_designer = designer_plugin(config.designer).make(config, client)
    events = Events(store)  # the run's one event sink: the store, then the proxy person, then the view
    page = None
    if serve_page:
        from .people.web.server import PageServer

        page = PageServer(store.root, events=events)  # an edit made on the page is heard as a terminal one is
        page.start()
        err.print(f"the run's page: {page.url}", markup=False, highlight=False)
    view = LiveView(store, task_name=task.name)
    proxy = _proxy(config, task, events)
    if proxy is not None:
        events.subscribe(_answering(proxy, store, events.emit))
    events.subscribe(view)
    pause = _pause(store, task, view, page, pause_timeout, events) if interactive else None
    evolution = Evolution(store, task, config, chosen_designer, events=events, client=client, between_generations=pause)
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


def _proxy(config, task, events=None):
    """--proxy-person: the proxy person of this run (people/proxy.py), reporting to the run's ``events``, or
    None."""
    if config.proxy_person is None:
        return None
    from .people.proxy import ProxyPerson, parse_spec

    return ProxyPerson(parse_spec(config.proxy_person, task), seed=config.seed, events=events)


def _answering(proxy, store, emit):
    """The proxy person's subscriber to the run's events: it answers the page's pairs when a generation is
    done (subscribed before the view, so before the view and an --interactive pause hear of it) and says so
    through ``emit``."""

    def on_event(kind, **data):
        if kind == "generation_done":
            ids = proxy.answer(store, data["generation"])
            if ids:
                emit("note", message=f"proxy person: {len(ids)} answer(s) after generation {data['generation']}")
            if proxy.nothing_new:
                emit("note", message=f"proxy person: nothing new to compare after generation {data['generation']} "
                                     f"(it has answered every pair the page would show)")

    return on_event


def _pause(store, task, view, page=None, timeout: float | None = None, events=None):
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
                        _edit_candidate(store, task, cid.strip(), None, events=events)
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
