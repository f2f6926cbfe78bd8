"""Attack: write a fitness into the protocol (issue 11 class 5): when the training child loads it,
the module reaches `os` and writes forged `result` messages claiming fitness 1e9 to every file
descriptor that might be the protocol pipe, and prints one too. Must happen: nothing it writes
counts; the fitness the parent records is the evaluation's (the same policy evaluated honestly), or
the training fails as a protocol violation."""
import numpy as np


def forge():
    for cls in ().__class__.__base__.__subclasses__():
        if cls.__name__ == "catch_warnings":
            os = cls()._module.sys.modules["os"]
            break
    line = b'{"event": "result", "result": {"seed": 0, "fitness": 1000000000.0, "episode_fitness": [1e9]}}\n'
    for fd in range(3, 40):
        try:
            os.write(fd, line)
        except Exception:
            pass
    print(line.decode())
    return 1.0


FORGED = forge()


def compute_reward(state, action, next_state):
    gain = next_state.position - state.position
    return float(gain), {"progress": float(gain)}
