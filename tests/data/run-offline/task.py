"""The mountain-car task with a tiny training budget, for end-to-end tests (a user-style task file)."""

import importlib.util

from rewardsmith.task import BUILTIN_TASKS_DIR

_spec = importlib.util.spec_from_file_location("_shipped_mountaincar", BUILTIN_TASKS_DIR / "mountaincar_reach.py")
_shipped = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shipped)
globals().update({k: v for k, v in vars(_shipped).items() if not k.startswith("__")})

NAME = "tiny-mountaincar"
TRAINING = {
    "timesteps": 1024,
    "n_envs": 1,
    "normalize": False,
    "eval_episodes": 1,
    "ppo": {"n_steps": 256, "batch_size": 64, "n_epochs": 2},
}
