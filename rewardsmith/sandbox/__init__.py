"""Everything that runs inside a sandboxed process: the trust boundary is this folder.

The parent (``rewardsmith.launch.run_job``) starts ``python -m rewardsmith.sandbox.child`` and sends
it one job; the child confines itself (``confine``) and runs the handler ``JOBS`` names for the job's
kind. Nothing the child reports is believed without the parent validating it, and the fitness that
selection uses comes only from a job that never loads candidate code.

=========  =======================================  ========================================
kind       handler                                  loads candidate reward code?
=========  =======================================  ========================================
check      ``probe.probe_reward``                   yes: the critic's dynamic probe (raw values;
                                                    the parent judges them)
train      ``train.train_job``                      yes: PPO on the candidate's reward; gives the
                                                    policy and checkpoint as plain numbers
evaluate   ``evaluate.evaluate_job``                NEVER: rolls out the policy (numpy) and
                                                    computes the task's fitness, what selection uses
replay     ``replay.replay_job``                    yes: the reward on recorded trajectories
render     ``render.render_job``                    never: a GIF of a trained policy (numpy)
unguarded  ``unguarded.unguarded_job``              tests only: any code, real builtins, Python
                                                    layers off (what the OS layers stop alone)
=========  =======================================  ========================================

Modules here import nothing of the parent side except ``rewardsmith.task`` and
``rewardsmith.errors`` (tests/test_sandbox.py checks it).
"""

# kind -> "module:function" the child imports and calls as handler(job, emit) -> result dict
JOBS = {
    "check": "rewardsmith.sandbox.probe:probe_reward",
    "train": "rewardsmith.sandbox.train:train_job",
    "evaluate": "rewardsmith.sandbox.evaluate:evaluate_job",
    "replay": "rewardsmith.sandbox.replay:replay_job",
    "render": "rewardsmith.sandbox.render:render_job",
    "unguarded": "rewardsmith.sandbox.unguarded:unguarded_job",
}
