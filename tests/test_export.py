"""Export: one standalone reward module that trains without rewardsmith installed (CONTRACT §4)."""

import ast
import hashlib
import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import rewardsmith
from rewardsmith.intake.critic import static_findings
from rewardsmith.output.export import (BEGIN_MARKER, ExportError, code_hash, export_module, render_module, reward_block,
                                       verify_module)
from rewardsmith.sandbox.rewardcode import load_reward
from rewardsmith.task import list_tasks, load_task, load_task_file
from rewardsmith.sandbox.wrapper import RewardWrapper
from conftest import check_job

META = {"candidate": "c7", "fitness_mean": 1.5234, "fitness_std": 0.0412, "seeds": [0, 1, 2],
        "timesteps": 30_000, "run": "run-2024-demo"}
CLEAN_TASKS = ["mountaincar-reach", "hopper-forward"]  # a classic-control task and a MuJoCo one

# A candidate whose own names collide with the module's (FIELDS, make_env, a field's name).
CLASHING = '''
import math

import numpy as np

FIELDS = ("position", "velocity")


def position(s):
    return s.position


def make_env(x):
    return 2.0 * x


def compute_reward(state, action, next_state):
    progress = make_env(position(next_state) - position(state))
    speed = math.fabs(next_state.velocity) * len(FIELDS)
    effort = -0.1 * float(np.sum(np.square(action)))
    return progress + speed + effort, {"progress": progress, "speed": speed, "effort": effort}
'''


def _load(path: Path):
    """The exported module at ``path``, imported under a private name."""
    spec = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _export(tmp_path, task_name="mountaincar-reach", code=None, name="exported_reward.py"):
    task = load_task(task_name)
    return task, export_module(task, code or task.baseline, META, tmp_path / name)


# --------------------------------------------------------------------------- the file itself


@pytest.mark.parametrize("task", list_tasks(), ids=lambda t: t.name)
def test_every_shipped_task_exports_with_only_numpy_math_gymnasium_imports(task):
    text = render_module(task, task.baseline, META)
    tree = ast.parse(text)
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported == {"numpy", "math", "gymnasium"}
    assert ast.get_docstring(tree)
    block = reward_block(text)
    assert block == task.baseline
    assert static_findings(block, list(task.fields)) == []  # the critic passes it, unchanged
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert {"compute_reward", "State", "state_of", "make_env"} <= defined
    assert {f"_field_{name}" for name in task.fields} <= defined


def test_header_records_task_candidate_fitness_and_a_hash_that_verifies(tmp_path):
    task, path = _export(tmp_path)
    text = path.read_text()
    header = text.split('"""', 1)[0]
    for expected in ("mountaincar-reach", "MountainCarContinuous-v0", "Candidate:    c7 (run run-2024-demo)",
                     "1.523 ± 0.0412 (mean ± std over 3 seeds)", "Seeds:        0, 1, 2",
                     "30000 per seed", f"rewardsmith {rewardsmith.__version__}",
                     "Goal:         An under-powered car sits", "from exported_reward import MountaincarReachReward",
                     "PPO(\"MlpPolicy\", env"):
        assert expected in header, expected
    digest = hashlib.sha256(task.baseline.encode()).hexdigest()
    assert f"# Code sha256:  {digest}" in header
    assert code_hash(task.baseline) == digest == verify_module(text)
    store = pytest.importorskip("rewardsmith.archive.store")
    assert store.code_hash(task.baseline) == digest  # the run store records the same hash

    tampered = text.replace("flag = 10.0 * next_state.at_flag", "flag = 20.0 * next_state.at_flag")
    with pytest.raises(ExportError, match="changed after export"):
        verify_module(tampered)


def test_code_without_final_newline_is_carried_verbatim_and_verifies():
    task = load_task("mountaincar-reach")
    code = task.baseline.rstrip("\n")
    text = render_module(task, code, META)
    assert verify_module(text) == hashlib.sha256(code.encode()).hexdigest()
    assert reward_block(text) == code + "\n"


def test_exported_wrapper_replaces_reward_and_fills_info(tmp_path):
    task, path = _export(tmp_path)
    module = _load(path)
    assert module.RewardWrapper is module.MountaincarReachReward
    env = module.make_env()
    assert isinstance(env, module.RewardWrapper) and env.spec.id == "MountainCarContinuous-v0"
    obs, _ = env.reset(seed=3)
    state = module.state_of(env, obs)
    action = np.array([0.6], dtype=np.float32)
    obs, reward, _, _, info = env.step(action)
    total, components = module.compute_reward(state, action, module.state_of(env, obs))
    assert reward == float(total)
    assert info["reward_components"] == components and set(components) == {"energy_gain", "flag", "effort"}
    assert info["native_reward"] == pytest.approx(-0.1 * 0.6 ** 2)
    assert module.FIELDS["velocity"][1:] == ("m/step", task.fields["velocity"].doc)

    with pytest.raises(AttributeError, match=r"no field 'speed'.*at_flag, distance_to_flag, height, obs"):
        state.speed  # noqa: B018
    with pytest.raises(AttributeError, match="read-only"):
        state.position = 1.0
    with pytest.raises(ValueError, match="read-only"):
        state.obs[0] = 1.0


def test_reward_code_keeps_its_names_and_the_module_renames_its_own(tmp_path):
    task, path = _export(tmp_path, code=CLASHING)
    text = path.read_text()
    assert reward_block(text) == CLASHING
    assert "the reward code defines its own `FIELDS`, so this module's is `FIELDS_`" in text
    assert "the reward code defines its own `make_env`, so this module's is `make_env_`" in text
    module = _load(path)
    assert module.FIELDS == ("position", "velocity")
    assert set(module.FIELDS_) == set(task.fields)
    env = module.make_env_()
    obs, _ = env.reset(seed=0)
    for _ in range(20):
        state = module.state_of(env, obs)
        action = env.action_space.sample()
        obs, reward, _, _, info = env.step(action)
        total, components = module.compute_reward(state, action, module.state_of(env, obs))
        assert reward == total and info["reward_components"] == components


@pytest.mark.parametrize("rebinding, name", [("float = numpy.float32", "float"), ("np = 3.0", "np")])
def test_reward_code_rebinding_a_name_the_module_needs_is_refused(rebinding, name):
    task = load_task("mountaincar-reach")
    # numpy imported as numpy: the critic refuses rebinding the name numpy is imported under, not np
    code = f"import numpy\n{rebinding}\n\ndef compute_reward(state, action, next_state):\n" \
           f"    return 1.0, {{'one': 1.0}}\n"
    with pytest.raises(ExportError, match=f"binds {name} at module level"):
        render_module(task, code, META)


def test_field_using_a_name_from_its_task_file_is_refused(tmp_path):
    path = tmp_path / "leaky.py"
    path.write_text(textwrap.dedent('''
        import numpy as np
        from rewardsmith.task import field

        NAME = "leaky"
        ENV = "MountainCarContinuous-v0"
        GOAL = "Reach the flag."
        FLAG = 0.45
        BASELINE = "def compute_reward(state, action, next_state):\\n    return 0.0, {}\\n"

        @field(unit="m")
        def position(env, obs):
            """Car position."""
            return float(obs[0])

        @field(unit="m")
        def gap(env, obs):
            """Distance to the flag."""
            return float(np.maximum(0.0, FLAG - position(env, obs)))

        def fitness(episode):
            return 0.0
    '''))
    task = load_task_file(path)
    with pytest.raises(ExportError, match=r"state field 'gap' .* uses FLAG, position from outside"):
        render_module(task, task.baseline, META)


def test_user_environment_class_is_registered_by_make_env(tmp_path, monkeypatch):
    (tmp_path / "tiny_env_pkg.py").write_text(textwrap.dedent('''
        import gymnasium as gym
        import numpy as np

        class Drift(gym.Env):
            observation_space = gym.spaces.Box(-10.0, 10.0, (1,), np.float64)
            action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

            def reset(self, seed=None, options=None):
                super().reset(seed=seed)
                self.x = 0.0
                return np.array([self.x]), {}

            def step(self, action):
                self.x += float(action[0])
                return np.array([self.x]), -abs(self.x), False, False, {}
    '''))
    (tmp_path / "drift_task.py").write_text(textwrap.dedent('''
        from rewardsmith.task import field

        NAME = "drift-test"
        ENV = "tiny_env_pkg:Drift"
        MAX_EPISODE_STEPS = 5
        GOAL = "Drift right."
        BASELINE = """
        def compute_reward(state, action, next_state):
            return next_state.x, {"x": next_state.x}
        """

        @field(unit="m")
        def x(env, obs):
            """Position."""
            return float(env.x)

        def fitness(episode):
            return float(episode.x[-1])
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    task = load_task_file(tmp_path / "drift_task.py")
    module = _load(export_module(task, task.baseline, {"candidate": "c0"}, tmp_path / "drift_reward.py"))
    env = module.make_env()
    env.reset(seed=0)
    steps = [env.step(np.array([0.5], dtype=np.float32)) for _ in range(5)]
    assert [s[1] for s in steps] == [0.5, 1.0, 1.5, 2.0, 2.5]
    assert steps[-1][3] is True  # the time limit the task declares
    assert [s[4]["native_reward"] for s in steps] == [-0.5, -1.0, -1.5, -2.0, -2.5]


def test_bad_inputs_give_clear_errors(tmp_path):
    task = load_task("mountaincar-reach")
    with pytest.raises(ExportError, match="defines no module-level compute_reward"):
        render_module(task, "def reward(s, a, n):\n    return 0.0, {}\n", META)
    with pytest.raises(ExportError, match="does not compile"):
        render_module(task, "def compute_reward(s, a, n)\n", META)
    with pytest.raises(ExportError, match="needs the candidate id"):
        render_module(task, task.baseline, {"fitness_mean": 1.0})
    with pytest.raises(ExportError, match=r"unknown keys \['fitnes'\]"):
        render_module(task, task.baseline, {"candidate": "c1", "fitnes": 1.0})
    with pytest.raises(ExportError, match="should end in .py"):
        export_module(task, task.baseline, META, tmp_path / "reward.txt")
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- reward code past the sandbox

# a run's strings that land in the module's header comment and docstring, crafted to end them
INJECTED = "__import__('pathlib').Path('injected-by-meta').mkdir()"
META_INJECTIONS = [
    ("candidate", f'c1""" + str({INJECTED}) + """'),  # out of the docstring, on one line
    ("candidate", f"c1\n{INJECTED}\n#"),
    ("run", f"run\r{INJECTED}\n#"),
    ("scoring", f"search\n{INJECTED}\n#"),
]


@pytest.mark.parametrize("key, value", META_INJECTIONS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(META_INJECTIONS)])
def test_run_strings_that_would_end_a_comment_or_the_docstring_are_refused(key, value, tmp_path, monkeypatch):
    """A run store's candidate id, run name and scoring are written into the header comment
    and the docstring; a store someone else made (or changed) could carry a newline or a triple quote
    there. The control: written without the check, the module runs the injected line on import."""
    from rewardsmith.output import export

    task = load_task("mountaincar-reach")
    meta = {**META, key: value}
    with pytest.raises(ExportError, match=key):
        export_module(task, task.baseline, meta, tmp_path / "injected_reward.py")
    assert not list(tmp_path.iterdir())

    monkeypatch.setattr(export, "_plain_meta", lambda meta: None)
    (tmp_path / "injected_reward.py").write_text(export.render_module(task, task.baseline, meta))
    run = subprocess.run([sys.executable, "-c", "import injected_reward"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert (tmp_path / "injected-by-meta").is_dir(), run.stderr[-2000:]


WRITES_THE_ACTION = """
def compute_reward(state, action, next_state):
    action[...] = 0.0
    return 0.0, {}
"""


def test_reward_code_cannot_write_into_the_action_it_is_given(tmp_path):
    """The action the wrapper is given is the caller's array (with a MultiDiscrete space, stable-baselines3
    passes a view of the very actions it then stores for PPO): reward code that writes into it would
    change what the learner learns from. In the sandbox the action is read-only; so it is here."""
    assert static_findings(WRITES_THE_ACTION) == []  # no static rule: the module's own guard must hold
    task, path = _export(tmp_path, code=WRITES_THE_ACTION)
    env = _load(path).make_env()
    env.reset(seed=0)
    action = np.array([0.6], dtype=np.float32)
    with pytest.raises(ValueError, match="read-only"):
        env.step(action)
    assert action[0] == np.float32(0.6)


HOSTILE = Path(__file__).parent / "hostile"
# reward code that reaches os only outside the sandbox: (file, the line's text, the finding's words)
PAST_THE_SANDBOX = [
    ("numpy_chain_to_os.py", "np.matrixlib.defmatrix.sys.modules[",
     "np.matrixlib.defmatrix.sys.modules is not on rewardsmith's numpy allow-list (nearest allowed: np."),
    ("exported_module_globals.py", "gym.os.mkdir(", "'gym' is read but never defined"),
]
# what a user's training script does with an exported module: make the env, take a step
STEP_ONCE = """
import importlib, sys
sys.path.insert(0, ".")
module = importlib.import_module(sys.argv[1])
env = module.make_env()
env.reset(seed=0)
env.step(env.action_space.sample())
print("stepped")
"""


@pytest.mark.parametrize("name, text, words", PAST_THE_SANDBOX, ids=[p[0] for p in PAST_THE_SANDBOX])
def test_reward_code_live_only_outside_the_sandbox_is_refused_by_the_critic_and_by_export(name, text, words,
                                                                                          tmp_path):
    """The static critic names the line (and, for a numpy chain, the nearest allowed name), and export
    writes nothing: a run scored before today's rules cannot leak such code into a module."""
    task = load_task("mountaincar-reach")
    code = (HOSTILE / name).read_text()
    findings = static_findings(code, list(task.fields))
    line = next(i for i, source in enumerate(code.splitlines(), 1) if text in source)
    assert [f.line for f in findings] == [line] and words in findings[0].message, findings
    with pytest.raises(ExportError, match=rf"fails rewardsmith's static critic(.|\n)*line {line}: "):
        export_module(task, code, META, tmp_path / "escaping_reward.py")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", [p[0] for p in PAST_THE_SANDBOX])
def test_such_code_is_inert_in_the_sandbox_and_live_in_a_module_written_without_the_check(name, tmp_path,
                                                                                        monkeypatch):
    """The control: the sandbox's dynamic probe sees a well-behaved reward, so only the static check
    stands in the way; a module written without it (as an older rewardsmith did), run by a fresh
    interpreter with the real numpy and gymnasium, does reach os."""
    from rewardsmith.output import export
    from rewardsmith.host.launch import Limits, run_job

    task = load_task("mountaincar-reach")
    code = (HOSTILE / name).read_text()
    probe = run_job(check_job(task, code), Limits(wall_seconds=20, cpu_seconds=10, memory_mb=1536))
    assert probe["ok"] is True, probe  # inert in the sandbox: the name or the chain is not there

    monkeypatch.setattr(export, "_passes_todays_critic", lambda task, code: None)
    export_module(task, code, META, tmp_path / "escaping_reward.py")
    run = subprocess.run([sys.executable, "-c", STEP_ONCE, "escaping_reward"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert "stepped" in run.stdout, run.stderr[-2000:]
    assert (tmp_path / "escaped-by-reward").is_dir()  # the reward made it through os


# --------------------------------------------------------------------------- a clean interpreter

CLEAN_SCRIPT = r'''
import json
import sys

config = json.load(open(sys.argv[1]))
sys.path[:] = config["path"]

import importlib.abc
import importlib.util


class NoRewardsmith(importlib.abc.MetaPathFinder):
    """Refuses rewardsmith (needed when it is a regular install beside numpy) and records who asked."""

    attempts = []

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "rewardsmith":
            self.attempts.append(name)
            raise ImportError(f"No module named {name!r} (refused in this clean interpreter)")
        return None


result = {"found_without_guard": importlib.util.find_spec("rewardsmith") is not None}
sys.meta_path.insert(0, NoRewardsmith())
try:
    import rewardsmith  # noqa: F401
    result["import_rewardsmith"] = "succeeded"
except ImportError as exc:
    result["import_rewardsmith"] = f"ImportError: {exc}"
NoRewardsmith.attempts.clear()

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO

torch.set_num_threads(1)


class Recorder(gym.Wrapper):
    """Extracts the states itself and keeps every transition PPO saw."""

    def __init__(self, env, module):
        super().__init__(env)
        self.module = module
        self.transitions = []

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.state = self.module.state_of(self.env, obs)
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        next_state = self.module.state_of(self.env, obs)
        self.transitions.append((self.state, np.array(action), next_state, reward, terminated, info))
        self.state = next_state
        return obs, reward, terminated, truncated, info


for job in config["jobs"]:
    module = importlib.import_module(job["module"])
    out = result[job["task"]] = {}

    # 1. the seeded action sequence, for comparison with rewardsmith's own wrapper
    env = module.make_env()
    env.reset(seed=job["seed"])
    replay = out["replay"] = {"rewards": [], "native": [], "components": []}
    for action in job["actions"]:
        _, reward, terminated, truncated, info = env.step(np.asarray(action, dtype=env.action_space.dtype))
        replay["rewards"].append(reward)
        replay["native"].append(info["native_reward"])
        replay["components"].append(info["reward_components"])
        if terminated or truncated:
            env.reset()

    # 2. PPO trains on the wrapped env; every reward it got must be compute_reward's total
    recorder = Recorder(module.make_env(), module)
    model = PPO("MlpPolicy", recorder, n_steps=1024, batch_size=256, n_epochs=2, seed=0, device="cpu")
    model.learn(total_timesteps=job["timesteps"])
    checks = out["ppo"] = {"steps": len(recorder.transitions), "trained": int(model.num_timesteps),
                           "total_mismatch": 0, "components_mismatch": 0, "native_mismatch": 0}
    for state, action, next_state, reward, terminated, info in recorder.transitions:
        total, components = module.compute_reward(state, action, next_state)
        checks["total_mismatch"] += float(total) != reward
        checks["components_mismatch"] += info["reward_components"] != {k: float(v) for k, v in components.items()}
        if job["task"] == "mountaincar-reach":  # the env's own reward: 100 at the flag - 0.1 a^2
            native = (100.0 if terminated else 0.0) - float(np.clip(action[0], -1, 1)) ** 2 * 0.1
            checks["native_mismatch"] += abs(info["native_reward"] - native) > 1e-9
    out["component_names"] = sorted(recorder.transitions[0][5]["reward_components"])

result["rewardsmith_attempts"] = NoRewardsmith.attempts
result["rewardsmith_loaded"] = sorted(m for m in sys.modules if m.split(".")[0] == "rewardsmith")
json.dump(result, open("result.json", "w"))
'''


def _clean_path(workdir: Path) -> list[str]:
    """sys.path for the clean interpreter: the standard library, ``workdir`` and the dependencies' dirs.

    How rewardsmith is kept out, whatever way it is installed: ``-I`` ignores PYTHON* variables, the user
    site and the script's directory; ``-S`` skips site-packages and its .pth files, which is where an
    editable install hooks in its finder; sys.path is then set explicitly, never to the checkout. If
    rewardsmith is a regular install in the same site-packages as numpy, the script's meta-path guard
    refuses it, and records any import attempt made after its own probe.
    """
    stdlib = subprocess.run([sys.executable, "-I", "-S", "-c", "import sys; print('\\n'.join(sys.path))"],
                            capture_output=True, text=True, check=True).stdout.split()
    deps = {str(Path(importlib.util.find_spec(name).origin).resolve().parent.parent)  # without importing
            for name in ("numpy", "gymnasium", "stable_baselines3", "torch")}
    return [str(workdir), *stdlib, *sorted(deps)]


def _in_project_replay(task, code, seed, actions):
    """Rewards, native rewards and components from rewardsmith's own wrapper on ``actions``."""
    env = RewardWrapper(task.make_env(), task, load_reward(code), code)
    env.reset(seed=seed)
    out = {"rewards": [], "native": [], "components": []}
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
        out["rewards"].append(reward)
        out["native"].append(info["native_reward"])
        out["components"].append(info["reward_components"])
        if terminated or truncated:
            env.reset()
    return out


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    """Exports CLEAN_TASKS' baselines and runs CLEAN_SCRIPT on them in one clean interpreter."""
    workdir = tmp_path_factory.mktemp("clean")
    shipped = {t.name for t in list_tasks()}
    jobs, actions = [], {}
    for name in (n for n in CLEAN_TASKS if n in shipped):
        task = load_task(name)
        module = name.replace("-", "_") + "_reward"
        export_module(task, task.baseline, META, workdir / f"{module}.py")
        space = task.make_env().action_space
        rng = np.random.default_rng(7)
        actions[name] = rng.uniform(space.low, space.high, size=(1100, *space.shape)).astype(space.dtype)
        jobs.append({"task": name, "module": module, "seed": 11, "actions": actions[name].tolist(),
                     "timesteps": 2048})
    config = {"path": _clean_path(workdir), "jobs": jobs}
    (workdir / "config.json").write_text(json.dumps(config))
    (workdir / "clean.py").write_text(CLEAN_SCRIPT)
    run = subprocess.run([sys.executable, "-I", "-S", "clean.py", "config.json"], cwd=workdir,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return config, json.loads((workdir / "result.json").read_text()), actions


@pytest.mark.slow
def test_clean_interpreter_cannot_import_rewardsmith_and_exported_modules_never_try(clean_run):
    config, result, _ = clean_run
    assert result["import_rewardsmith"].startswith("ImportError")
    package_root = str(Path(rewardsmith.__file__).resolve().parent.parent)
    if package_root not in config["path"]:  # an editable or checkout install: not even findable
        assert result["found_without_guard"] is False
    assert result["rewardsmith_attempts"] == [] and result["rewardsmith_loaded"] == []


@pytest.mark.parametrize("task_name", CLEAN_TASKS)
@pytest.mark.slow
def test_ppo_trains_on_exported_wrapper_and_every_reward_is_compute_rewards_total(task_name, clean_run):
    _, result, _ = clean_run
    if task_name not in result:
        pytest.skip(f"{task_name} is not shipped")
    task = load_task(task_name)
    ppo = result[task_name]["ppo"]
    assert ppo["steps"] == ppo["trained"] == 2048
    assert ppo["total_mismatch"] == ppo["components_mismatch"] == ppo["native_mismatch"] == 0
    expected_components = sorted(load_reward(task.baseline)(*_probe_states(task))[1])
    assert result[task_name]["component_names"] == expected_components


@pytest.mark.parametrize("task_name", CLEAN_TASKS)
@pytest.mark.slow
def test_exported_rewards_equal_rewardsmiths_own_wrapper_on_the_same_actions(task_name, clean_run):
    _, result, actions = clean_run
    if task_name not in result:
        pytest.skip(f"{task_name} is not shipped")
    task = load_task(task_name)
    ours = _in_project_replay(task, task.baseline, 11, actions[task_name])
    replay = result[task_name]["replay"]
    assert replay["rewards"] == ours["rewards"]
    assert replay["native"] == ours["native"]
    assert replay["components"] == ours["components"]


def _probe_states(task):
    """(state, action, next_state) of one random step, for the component names compute_reward returns."""
    from rewardsmith.task import State

    env = task.make_env()
    obs, _ = env.reset(seed=0)
    state = State(task.state_values(env, obs))
    action = env.action_space.sample()
    obs, *_ = env.step(action)
    return state, np.asarray(action), State(task.state_values(env, obs))


def test_the_header_carries_the_final_multi_seed_score_else_the_search_score(tmp_path):
    from rewardsmith.output.export import run_meta
    from rewardsmith.training.final import summarize_final
    from rewardsmith.archive.records import FinalRun
    from rewardsmith.archive.store import RunStore

    task = load_task("mountaincar-reach")
    store = RunStore.create(tmp_path / "run", {"task": task.name, "designer": "llm"}, task.path)
    c = store.add_candidate(0, task.baseline, "llm")
    store.update(c.id, status="scored", fitness=0.9, fitness_std=0.0, seeds=[0], timesteps=30_000)
    c = store.candidate(c.id)
    search = render_module(task, c.code, run_meta(store, c))
    assert "0.9 ± 0 (mean ± std over 1 seed; search)" in search  # no final scoring yet
    for seed, fitness in ((1, 1.2), (2, 1.4), (3, 1.6)):
        store.add_final_run(FinalRun(c.id, "candidate", seed, "scored", fitness=fitness, timesteps=30_000))
    store.set_final(summarize_final(store.final_runs(), [c.id], [1, 2, 3], store))
    text = render_module(task, c.code, run_meta(store, c))
    header = text.split(BEGIN_MARKER)[0]
    assert "1.4 ± 0.1633 (mean ± std over 3 seeds; final scoring on fresh seeds)" in header
    assert "# Seeds: 1, 2, 3" in header.replace("  ", " ") or "1, 2, 3" in header
    assert "30000 per seed" in header


@pytest.mark.parametrize("text", [
    "a = 1; b = 2\r\nif x:\n    y = 'é'  # ü\r    z = 3\nw = (1,\n 2)\n",
    "\x0cx = 1\ny = 2\nz = '\u2028\x0c'; q = 4\n",
    "s = '''a\nb\x0bc'''\nt = 1",
])
def test_the_module_check_reads_each_statement_as_the_standard_library_does(text):
    """The export's check splits a module into lines once (export._segments) instead of once per statement;
    each statement's source is what ``ast.get_source_segment`` gives, whatever the line ends and characters."""
    import ast

    from rewardsmith.output.export import _segments

    segment = _segments(text)
    assert [segment(n) for n in ast.parse(text).body] == [ast.get_source_segment(text, n) for n in ast.parse(text).body]
