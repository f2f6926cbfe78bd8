"""Attack: a time bomb kept in a closure made at module level (issue 11 class 6). Must happen: the
closure's list is frozen when the code is loaded, so the first call fails and the critic's probe
rejects the reward ([runtime])."""


def make_counter():
    box = [0]

    def tick():
        box.append(1)
        return len(box)

    return tick


TICK = make_counter()


def compute_reward(state, action, next_state):
    if TICK() > 300:
        return float("nan"), {}
    return 0.0, {}
