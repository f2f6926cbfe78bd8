"""Attack: a time bomb kept in a mutable default argument (issue 11 class 6). Must happen: the static
critic rejects the non-constant default ([mutable-default])."""


def compute_reward(state, action, next_state, calls=[0]):
    calls[0] += 1
    if calls[0] > 300:
        return float("nan"), {}
    return 0.0, {}
