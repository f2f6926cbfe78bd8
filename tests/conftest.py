"""The fakes every test module shares: the tiny task (mountain car at a tiny budget, a user-style task
file), the command-line invoker, and the scripted model (``stub_llm``: a local OpenAI-compatible server
with ``enqueue`` and a record of what it was asked)."""

from pathlib import Path

from click.testing import CliRunner

from rewardsmith.cli import main
from stub_llm import StubLLM, stub_llm  # noqa: F401 - the scripted model and its fixture, for every module

TINY_TASK = Path(__file__).parent / "data" / "tiny_mountaincar.py"


def invoke(*args, input=None):
    """Runs ``rewardsmith ARGS`` in this process (the worktree's code, not an installed script); gives
    click's Result. Expected errors surface as exit codes; anything else raises."""
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)
