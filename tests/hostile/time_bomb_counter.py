"""Attack: a module-level counter that behaves for the critic's 300 probe calls, then turns to NaN
(issue 11 class 6). Must happen: the static critic rejects the mutation of a module-level name
([impure]); with the critic bypassed, the counter is frozen at load (a tuple), so the first call fails
instead of the 301st."""

CALLS = [0]


def compute_reward(state, action, next_state):
    CALLS[0] += 1
    if CALLS[0] > 300:
        return float("nan"), {}
    return 0.0, {}
