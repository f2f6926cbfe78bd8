"""Attack: overwrite what the fitness reads (issue 11 class 5): the training process's episode
recorder is patched so every recorded position reads 0.5 (past the flag), and the State class
answers 0.5 for `position`. Must happen: no effect on the recorded fitness (equal to the same
policy's honest evaluation in a process that never loaded this code)."""
import numpy as np


def patch():
    for cls in ().__class__.__base__.__subclasses__():
        if cls.__name__ == "catch_warnings":
            modules = cls()._module.sys.modules
            break
    task = modules["rewardsmith.task"]
    original = task.Episode.__getattr__

    def forged(self, name):
        value = original(self, name)
        return np.full(len(value), 0.5) if name == "position" else value

    task.Episode.__getattr__ = forged
    return 1.0


DONE = patch()


def compute_reward(state, action, next_state):
    gain = next_state.position - state.position
    return float(gain), {"progress": float(gain)}
