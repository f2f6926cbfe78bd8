import numpy as np

def compute_reward(state, action, next_state):
    # energy shaping: reward the gain in mechanical energy (potential + kinetic), a flag bonus,
    # and the environment's own small action penalty
    def energy(s):
        return 0.0025 * np.sin(3.0 * s.position) + 0.5 * s.velocity ** 2

    shaping = 100.0 * (energy(next_state) - energy(state)) / 0.0025
    flag = 10.0 * next_state.at_flag
    effort = -0.1 * float(np.sum(np.square(action)))
    return shaping + flag + effort, {"energy_gain": shaping, "flag": flag, "effort": effort}
