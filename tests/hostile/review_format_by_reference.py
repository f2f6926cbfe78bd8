"""Attack: str.format taken as a value rather than called on a run-time string, so the [format-call]
rule (which looked only at calls written `x.format(...)`) never saw it: `map(str.format, [field],
[compute_reward])` with the field built at run time reads compute_reward's module globals, and from
them numpy's submodules and os.environ (a user's API keys, in the exported module), into a string the
reward can print or encode in its values. Run as the exported module runs it, the total is 1.0 when
the environment was read.
Must happen: the static critic rejects `.format` on anything but a string literal, called or not
([format-call])."""

import numpy as np


def compute_reward(state, action, next_state):
    field = "{0." + "__globals__[np].lib._npyio_impl.os.environ[PATH]}"
    leaked = list(map(str.format, [field], [compute_reward]))[0]
    return float(leaked.count("/") > 0), {}
