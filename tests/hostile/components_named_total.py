"""Attack: components named like the trainer's internal sums (issue 11 class 5): `__total__` and
`__native__` used to overwrite the wrapper's sums of the reward and the native reward. Must happen:
the critic may accept the names (they are identifiers), but the training snapshots' reward and native
reward per step are the real ones (the total here is exactly 1.0 per step), and the fitness is the
evaluation's."""


def compute_reward(state, action, next_state):
    return 1.0, {"__total__": 1e6, "__native__": 1e6, "progress": float(next_state.position - state.position)}
