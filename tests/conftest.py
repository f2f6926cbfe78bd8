"""The fakes every test module shares: the tiny task (mountain car at a tiny budget, a user-style task
file), the command-line invoker, and the scripted model (``stub_llm``: a local OpenAI-compatible server
with ``enqueue`` and a record of what it was asked)."""

from pathlib import Path

from click.testing import CliRunner

from rewardsmith.cli import main
from stub_llm import StubLLM, stub_llm  # noqa: F401 - the scripted model and its fixture, for every module

TINY_TASK = Path(__file__).parent / "data" / "tiny_mountaincar.py"

# Test files whose quick tests import a library that takes seconds to import: each group runs on one worker,
# so one worker pays each import instead of both (litellm about 4 s of CPU, PyTorch with stable-baselines3
# about 3 s). Found by running each test file alone (`-m "not slow"`) and listing what it left imported;
# tests/test_interpreter.py checks that the files exist.
SHARED_IMPORTS = {
    "tests/test_llm.py": "litellm", "tests/test_one_admission.py": "litellm",
    "tests/test_doctor.py": "torch", "tests/test_policy.py": "torch", "tests/test_reward_process.py": "torch",
    "tests/test_video.py": "torch",
}


def pytest_xdist_make_scheduler(config, log):
    """``-n N`` (``--dist load``) and CI's ``--dist loadfile`` as pytest-xdist runs them, but the files of one
    SHARED_IMPORTS group run on one worker (xdist's own ``xdist_group`` marks do not group under pytest 9)."""
    dist = config.getvalue("dist")
    if dist not in ("load", "loadfile"):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedImports(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return SHARED_IMPORTS.get(path) or (path if dist == "loadfile" else nodeid)

    return SharedImports(config, log)


_OPENED: dict[str, Path] = {}


def opened_copy(name: str, dest: Path) -> Path:
    """A copy at ``dest`` of the recorded run ``tests/data/NAME`` as opening it leaves it (migrated), for tests of
    what a migrated run holds rather than of its migration: it is migrated once per test process (0.1.0's takes
    about 0.2 s) and copied from there."""
    import atexit
    import shutil
    import tempfile

    from rewardsmith.archive.store import RunStore

    if name not in _OPENED:
        folder = tempfile.mkdtemp(prefix="opened-run-")
        atexit.register(shutil.rmtree, folder, True)
        shutil.copytree(Path(__file__).parent / "data" / name, Path(folder) / name)  # never opened in place
        RunStore(Path(folder) / name).close()
        _OPENED[name] = Path(folder) / name
    shutil.copytree(_OPENED[name], dest)
    return dest


def invoke(*args, input=None, **options):
    """Runs ``rewardsmith ARGS`` in this process (the worktree's code, not an installed script); gives
    click's Result. Expected errors surface as exit codes; anything else raises. ``options``: more of
    click's ``invoke`` arguments (e.g. ``terminal_width``)."""
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False, **options)


def check_job(task, code: str, transitions: int = 5, seed: int = 0) -> dict:
    """The critic's sandboxed probe job (``critic.probe_job``): ``code`` called on ``transitions`` random-policy
    transitions of ``task``, rolled out here as a critic rolls them out."""
    from rewardsmith.intake.critic import Critic, probe_job

    return probe_job(code, Critic(task, transitions=transitions, seed=seed).probe_transitions())


def fake_seed_result(seed: int, fitness: float, timesteps: int, start: int = 0, checkpoint=None):
    """What one fake training of ``seed`` to ``timesteps`` (from a checkpoint at ``start``) gives: one
    snapshot and one episode at ``fitness``; the pool tests' fake trainers build their results with it."""
    from rewardsmith.archive.records import EpisodeSummary, Snapshot
    from rewardsmith.training.trainer import SeedResult

    snapshot = Snapshot(step=timesteps, reward_per_step=0.0, native_per_step=0.0, components={"zero": 0.0},
                        episodes=1, fitness=fitness, episode_return=0.0, episode_length=10.0, elapsed=0.1)
    episode = EpisodeSummary(fitness=fitness, length=10, reward_return=0.0, native_return=0.0, terminated=False,
                             truncated=True)
    return SeedResult(seed=seed, fitness=fitness, episode_fitness=[fitness], timesteps=timesteps,
                      steps_per_second=1000.0, train_seconds=0.01, snapshots=[snapshot], episodes=[episode],
                      checkpoint=checkpoint, trained_steps=timesteps - start, wall_seconds=0.02)


class ThreadExecutor:
    """An executor (executor.LocalExecutor's interface) whose trainings are ``trainer`` calls, run
    ``workers`` at a time in threads."""

    def __init__(self, trainer, workers: int = 2):
        from concurrent.futures import ThreadPoolExecutor

        self.trainer, self.pool = trainer, ThreadPoolExecutor(max_workers=workers)

    def submit(self, task, code, seed, budget, on_progress=None, **options):
        return self.pool.submit(self.trainer, task, code, seed, budget, on_progress, **options)

    def describe(self):
        return "fake"

    def close(self, cancel=False):
        self.pool.shutdown(wait=not cancel, cancel_futures=cancel)
