"""Attack: a time bomb that counts its calls through numpy's global random state: the module seeds
it, and every call draws one number and compares it with the 301st of the known sequence (issue 11
class 6). Must happen: the static critic rejects the global-state functions ([global-random]); with the
critic bypassed, reward code's np.random has none of them, so the first call fails."""
import numpy as np

SEEDED = np.random.seed(7)
BOMB = 0.9381348210283492  # the 301st value of np.random.random() after seed(7), worked out offline


def compute_reward(state, action, next_state):
    if np.random.random() == BOMB:
        return float("nan"), {}
    return 0.0, {}
