"""Attack: a time bomb the static reading cannot see: the module-level list is mutated through a
local alias (issue 11 class 6). Must happen: the list is frozen to a tuple when the code is loaded, so
the first call fails and the critic's probe rejects the reward ([runtime])."""

HISTORY = []


def calls_so_far():
    seen = HISTORY
    seen.append(1)
    return len(seen)


def compute_reward(state, action, next_state):
    if calls_so_far() > 300:
        return float("nan"), {}
    return 0.0, {}
