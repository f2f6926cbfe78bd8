"""Attack: a NaN total (the child would have to claim "ok" for it; issue 11 class 5). Must happen: the
probe child's own validation rejects it ([runtime]); and a child that claims ok with NaN totals anyway
(a reward that took over its process) is rejected by the parent's check of the numbers ([protocol])."""


def compute_reward(state, action, next_state):
    return float("nan"), {"progress": 0.0}
