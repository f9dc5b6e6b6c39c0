"""Native Gymnasium vector environments over the Rust batched runner.

Stepping releases the GIL and steps the slots on ``num_threads`` threads (default: one per
core; the results do not depend on it); observations, rewards, flags and the safety channel
come back as NumPy arrays, each written once from the runner's buffers. ``info`` follows Gymnasium's vector-info convention (arrays with boolean ``_key``
masks), key for key what ``SyncVectorEnv`` over :class:`rome_sim.ToyCloudEnv` slots gives:

- ``info["cost"]``, ``info["violations"]`` ``[n, kinds]``, ``info["alerts"]`` ``[n, monitors]``;
  in next-step mode a penalised reward is one line, ``reward - lam * info["cost"]``;
- ``info["safety"]``, the reports of the episodes that ended at this step (masked by
  ``info["_safety"]``);
- in same-step mode, an ending step's own info is in ``info["final_info"]`` and its last
  observation in ``info["final_obs"]``, as Gymnasium puts them (the top level then holds the
  reset's empty safety channel for those environments).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

from rome_sim import _render, _spaces
from rome_sim._native import VectorCore


class _NativeVectorEnv(gym.vector.VectorEnv):
    _env = ""

    def __init__(
        self,
        num_envs: int = 1,
        scenario=None,
        *,
        draw: int | None = None,
        autoreset_mode="next_step",
        num_threads: int | None = None,
        render_mode=None,
    ):
        if render_mode is not None:
            from gymnasium.error import UnsupportedMode

            raise UnsupportedMode(
                f"render_mode {render_mode!r} is not offered by {type(self).__name__}: render a single environment "
                f"(rome_sim.ToyCloudEnv offers {_render.RENDER_MODES})"
            )
        mode = _spaces.autoreset_mode(autoreset_mode)
        self._core = VectorCore(self._env, scenario, int(num_envs), 0, mode.value, draw, num_threads)
        self.num_threads = self._core.num_threads
        self.description = self._core.describe()
        self.num_envs = int(num_envs)
        self.metadata = {"autoreset_mode": mode, "render_modes": []}
        self.render_mode = None
        self.single_action_space = spaces.Discrete(self.description["num_actions"])
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.single_observation_space = _spaces.observation_space(self.description)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._seeded = False

    @property
    def params(self) -> dict:
        """The environments' parameters (validated), as a dict."""
        return self.description["params"]

    def reset(self, *, seed=None, options: dict | None = None):
        """Resets every slot. ``seed=s`` keys slot ``i`` by ``(s, i)``; a list of seeds must
        repeat one seed (what ``SyncVectorEnv.reset(seed=[s] * n)`` gives slot environments)."""
        if options:
            raise ValueError(f"{type(self).__name__}.reset takes no options, got {sorted(options)}")
        if isinstance(seed, (list, tuple)):
            if len(seed) != self.num_envs or len(set(seed)) != 1 or seed[0] is None:
                raise ValueError(
                    "a list of seeds must give one seed for every slot, the same for all "
                    "(slots are keyed by (seed, slot), not by seed + slot)"
                )
            seed = seed[0]
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(_spaces.SEED_BOUND))
        obs, info = self._core.reset(_spaces.check_seed(seed))
        self._seeded = True
        return obs, info

    def step(self, actions):
        if not self._seeded:
            raise RuntimeError("call reset() before step()")
        return self._core.step(np.asarray(actions))


class ToyCloudVectorEnv(_NativeVectorEnv):
    """``num_envs`` ToyCloud environments stepped together by the Rust batched runner.

    Takes the arguments of :class:`rome_sim.ToyCloudEnv` (``scenario``, ``draw``,
    ``autoreset_mode``); ``metadata["autoreset_mode"]`` declares the mode.
    """

    _env = "toycloud"


class CartPoleVectorEnv(_NativeVectorEnv):
    """``num_envs`` CartPole-v1 environments stepped together by the Rust batched runner."""

    _env = "cartpole"
