"""Everything that runs inside a sandboxed process: the trust boundary is this folder.

The parent (``rewardsmith.launch.run_job``) starts ``python -m rewardsmith.sandbox.child`` and sends
it one job; the child confines itself (``confine``) and runs the handler ``JOBS`` names for the job's
kind. Nothing the child reports is believed without the parent validating it. Only the reward process
loads candidate code for training: the learner that runs PPO and gives the policy never does, nor does
the job that computes the fitness selection uses. A training is two sandboxed processes the parent
starts together (``rewardsmith.launch.run_with_reward_process``), joined by two pipes: the learner
sends each vectorised step's transitions, the reward process answers with numbers the learner checks.

=========  =======================================  ========================================
kind       handler                                  loads candidate reward code?
=========  =======================================  ========================================
reward     ``rewardserver.reward_job``              yes, and that is all it does: turns the
                                                    learner's transitions into reward numbers
train      ``train.train_job``                      NEVER: the learner; PPO on the numbers the
                                                    reward process sends; gives the policy and
                                                    checkpoint as plain numbers
evaluate   ``evaluate.evaluate_job``                NEVER: rolls out the policy (numpy) and
                                                    computes the task's fitness, what selection uses
check      ``probe.probe_reward``                   yes, through ``rewardserver.RewardServer``: the
                                                    critic's dynamic probe (raw values; the parent
                                                    judges them)
replay     ``replay.replay_job``                    yes, through ``rewardserver.RewardServer``: the
                                                    reward on recorded trajectories (for analysis)
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
    "reward": "rewardsmith.sandbox.rewardserver:reward_job",
    "evaluate": "rewardsmith.sandbox.evaluate:evaluate_job",
    "replay": "rewardsmith.sandbox.replay:replay_job",
    "render": "rewardsmith.sandbox.render:render_job",
    "unguarded": "rewardsmith.sandbox.unguarded:unguarded_job",
}
