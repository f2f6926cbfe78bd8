"""Attack: one name bound to two different modules in two scopes. The critic kept one alias table for
the whole file, and the helper's `from numpy import fft as np` (read after the module's `import numpy
as np`) made it judge compute_reward's `np.fft` as numpy.fft.fft, a function on the list, while there
np is numpy and np.fft the numpy.fft module itself: a module as a value, with its `test` (numpy's
pytest runner, which runs any file and writes reports anywhere) and whatever a later numpy puts in it.
Run as the exported module runs it, the total is 1.0 when it holds the module.
Must happen: the static critic rejects the second binding ([allow-list]): a name that names numpy or
one of its namespaces names that one everywhere in the code."""

import numpy as np


def spectrum(x):
    from numpy import fft as np

    return np.fft(x)


def compute_reward(state, action, next_state):
    held = np.fft
    return float(repr(held).startswith("<module")), {}
