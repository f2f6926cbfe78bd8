"""Attack: read a name the reward code never binds but the exported module does (`gym`, imported by
the module around the reward code) and reach os through it (gym.os). Inside the sandbox the name does
not exist, so the NameError is caught and the reward is inert there. Must happen: the static critic
rejects the unbound name ([undefined-name], naming the line), and export refuses to write a module for
this code."""


def compute_reward(state, action, next_state):
    try:
        gym.os.mkdir("escaped-by-reward")
    except Exception:
        pass
    progress = float(next_state.position - state.position)
    return progress, {"progress": progress}
