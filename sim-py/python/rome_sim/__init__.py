"""ToyCloud, the simulator's environment, for Python researchers.

``import rome_sim`` registers with Gymnasium:

- ``rome_sim/ToyCloud-v0``: ``gymnasium.make`` gives a single :class:`ToyCloudEnv`;
  ``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")`` gives the native
  :class:`ToyCloudVectorEnv` over the Rust batched runner.
- ``rome_sim/CartPole-v1``: the same two for CartPole-v1, to compare with Gymnasium's own.

Both take ``scenario=`` (a preset name such as ``"incident"`` or ``"pressure"``, a RON file
path, a scenario-space file with ``draw=``, or a dict with the scenario's fields) and
``autoreset_mode=`` (``"next_step"``, Gymnasium's default, or ``"same_step"``). The safety
channel is in ``info``: ``info["cost"]`` (the ground-truth cost of the step),
``info["violations"]`` and ``info["alerts"]`` (flags per violation kind and per monitor), and
at an episode's end ``info["safety"]``, its safety report.
"""

import gymnasium

from rome_sim._native import (
    rollout_random_actions,
    RolloutChecksum,
    toycloud_optima,
    toycloud_params,
    toycloud_presets,
)
from rome_sim.envs import CartPoleEnv, ToyCloudEnv
from rome_sim.vector import CartPoleVectorEnv, ToyCloudVectorEnv

__all__ = [
    "ToyCloudEnv",
    "ToyCloudVectorEnv",
    "CartPoleEnv",
    "CartPoleVectorEnv",
    "toycloud_params",
    "toycloud_presets",
    "toycloud_optima",
    "rollout_random_actions",
    "RolloutChecksum",
]

for _id, _single, _vector in [
    ("rome_sim/ToyCloud-v0", "rome_sim.envs:ToyCloudEnv", "rome_sim.vector:ToyCloudVectorEnv"),
    ("rome_sim/CartPole-v1", "rome_sim.envs:CartPoleEnv", "rome_sim.vector:CartPoleVectorEnv"),
]:
    if _id not in gymnasium.registry:
        gymnasium.register(id=_id, entry_point=_single, vector_entry_point=_vector)
