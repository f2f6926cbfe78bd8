"""Attack: a time bomb kept in a module-level generator that advances on every call (issue 11 class 6).
Must happen: a module-level object that could keep state is refused when the code is loaded, and the
critic's probe rejects the reward ([runtime])."""

TICKS = (i for i in range(10**9))


def compute_reward(state, action, next_state):
    for tick in TICKS:
        if tick > 300:
            return float("nan"), {}
        break
    return 0.0, {}
