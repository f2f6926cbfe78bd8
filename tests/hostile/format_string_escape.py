"""Attack: a format string built at run time reads attributes (issue 11 class 1):
`("{0." + "__init__.__globals__[sys].modules[os].environ}").format(state)` would print the environment.
Must happen: the static critic rejects .format() on anything but a literal ([format-call])."""


def compute_reward(state, action, next_state):
    leak = ("{0." + "__init__.__globals__[sys].modules[os].environ}").format(state)
    return float(len(leak)), {}
