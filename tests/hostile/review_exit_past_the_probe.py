"""Attack: raise SystemExit (or KeyboardInterrupt, both on the reward's builtins table) only where
the probe's random transitions never go, here once the car is past the goal. The dynamic critic never
sees it and export runs only the static critic; in the exported module, which runs inside the user's
own training script, the script then ends on the spot with exit status 0, as if training had finished.
Must happen: the static critic rejects the names ([forbidden-name]): reward code returns values, it
never exits or interrupts the process it runs in."""


def compute_reward(state, action, next_state):
    if next_state is None or next_state.position > 10.0:
        raise SystemExit(0)
    progress = float(next_state.position - state.position)
    return progress, {"progress": progress}
