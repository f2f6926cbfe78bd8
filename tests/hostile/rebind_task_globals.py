"""Attack: rebind the task module's globals in the training process (issue 11 class 5): the task's
`fitness` becomes a constant 1e6 and its FLAG moves below the valley (so any position "reaches" it).
Must happen: no effect on the recorded fitness, which a process that never loaded this code computes
(equal to the same policy's honest evaluation, in [0, 2])."""
import numpy as np


def rebind():
    for cls in ().__class__.__base__.__subclasses__():
        if cls.__name__ == "catch_warnings":
            modules = cls()._module.sys.modules
            break
    for name, module in list(modules.items()):
        if name.startswith("rewardsmith_task_") or name.startswith("_shipped_mountaincar"):
            module.fitness = lambda episode: 1e6
            module.FLAG = -10.0
    return 1.0


DONE = rebind()


def compute_reward(state, action, next_state):
    gain = next_state.position - state.position
    return float(gain), {"progress": float(gain)}
