"""What the command line's commands share: the consoles, the group that turns expected failures into
clean messages, the --sandbox option, and editing a candidate's code (``edit`` and --interactive)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .errors import ConfigError, RewardsmithError
from .host.confinement import SANDBOX_HELP, SANDBOX_MODES


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


def _edit_text(text: str) -> str | None:
    """Opens ``text`` in $EDITOR (or $VISUAL) and gives the result (None when the editor was quit)."""
    edited = click.edit(text, extension=".py", require_save=True)
    return edited


def _edit_candidate(store, task, cid: str, file: str | None, screen: bool = True, events=None) -> bool:
    """``events``: the live run's event sink (the --interactive pause), which hears the accepted edit."""
    from .people.human import add_edit

    original = store.candidate(cid)
    code: str | None
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
    outcome = add_edit(store, task, cid, code, screen=screen, events=events)
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
