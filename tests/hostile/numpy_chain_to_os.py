"""Attack: reach os through a chain of public numpy attributes (np.matrixlib.defmatrix.sys, then
sys.modules) and make a directory named escaped-by-reward. Inside the sandbox, reward code's numpy
copy has no np.matrixlib, so the chain raises and the try/except makes the reward inert there: the
critic's probe sees a well-behaved reward. The exported module runs with the real numpy, where the
chain is live. Must happen: the static critic rejects the chain ([allow-list], naming the line and
the nearest allowed name), and export refuses to write a module for this code."""
import numpy as np


def compute_reward(state, action, next_state):
    try:
        np.matrixlib.defmatrix.sys.modules["os"].mkdir("escaped-by-reward")
    except Exception:
        pass
    progress = float(next_state.position - state.position)
    return progress, {"progress": progress}
