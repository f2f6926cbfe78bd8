"""Attack: a module-level annotation without a value (`license: int`) binds nothing at run time, but it
made the name look bound to the critic's [undefined-name] rule, so the reward could read any builtin
left off its table. In the exported module (the real builtins) `license` is the interpreter's pager,
which reads files and blocks on stdin; the same trick reaches bytearray, iter, BaseException and the
rest. Run as the exported module runs it, the total is 1.0 when the real builtin was reached.
Must happen: the static critic rejects the name as never defined ([undefined-name])."""

license: int


def compute_reward(state, action, next_state):
    return float(repr(license).startswith("Type license()")), {}
