"""Attack: a literal format string that indexes into what it formats (`{0[...]}`) and hides an
attribute chain in a nested spec (`{0:{1.__class__}}`). Must happen: the static critic rejects the
item and attribute fields ([format-attribute])."""


def compute_reward(state, action, next_state):
    first = "{0[__globals__]}".format({"__globals__": 1})
    second = "{0:{1.__class__}}".format(1.0, state)
    return float(len(first + second)), {}
