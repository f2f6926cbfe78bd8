"""Attack: a `match` class pattern reads attributes no ast.Attribute shows (issue 11 class 1):
`case np.vectorize(__reduce_ex__=rx)` reaches object's machinery, then `case O(__globals__=g)` the real
builtins. Must happen: the static critic rejects it ([match-class]) before any process runs it."""
import numpy as np


def compute_reward(state, action, next_state):
    match np.vectorize:
        case np.vectorize(__reduce_ex__=rx):
            match rx:
                case object(__self__=owner):
                    pass
    return 0.0, {}
