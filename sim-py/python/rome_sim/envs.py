"""Single Gymnasium environments: one slot of the batched runner, stepped alone.

``slot=i`` makes the environment draw exactly what slot ``i`` of a Rust ``BatchRunner`` (or
of :class:`rome_sim.ToyCloudVectorEnv`) with the same seed draws: the library derives each
slot's key from ``(seed, slot)``, not from ``seed + i`` as Gymnasium's vector environments
seed their members. So ``SyncVectorEnv`` over slots ``0..n``, reset with ``seed=[s] * n``,
equals the native vector environment reset with ``seed=s``, in the same ``autoreset_mode``.
"""

from __future__ import annotations

import numbers

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rome_sim import _render, _spaces
from rome_sim._native import SlotCore


class _SlotEnv(gym.Env):
    _env = ""
    metadata = {"render_modes": _render.RENDER_MODES, "render_fps": 4}

    def __init__(self, scenario=None, *, slot: int = 0, draw: int | None = None, autoreset_mode="next_step", render_mode=None):
        self.render_mode = _render.check_mode(render_mode, type(self).__name__)
        if isinstance(slot, bool) or not isinstance(slot, numbers.Integral) or slot < 0:
            raise ValueError(f"slot must be a non-negative integer, not {slot!r}")
        mode = _spaces.autoreset_mode(autoreset_mode)
        self._core = SlotCore(self._env, scenario, int(slot), 0, mode.value, draw)
        self.description = self._core.describe()
        self.slot = int(slot)
        self.action_space = spaces.Discrete(self.description["num_actions"])
        self.observation_space = _spaces.observation_space(self.description)
        self._seeded = False
        self._frame = _render.Frame(self.description)

    @property
    def params(self) -> dict:
        """The environment's parameters (validated), as a dict."""
        return self.description["params"]

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if options:
            raise ValueError(f"{type(self).__name__}.reset takes no options, got {sorted(options)}")
        if seed is not None:
            core_seed = _spaces.check_seed(seed)
        elif not self._seeded:
            core_seed = int(self.np_random.integers(_spaces.SEED_BOUND))
        else:
            core_seed = None
        self._seeded = True
        obs = self._core.reset(core_seed)
        self._frame.reset(obs)
        return obs, _spaces.empty_step_info(self.description)

    def step(self, action):
        if not self._seeded:
            raise RuntimeError("call reset() before step()")
        if isinstance(action, np.ndarray) and action.shape == ():
            action = action.item()
        if isinstance(action, bool) or not isinstance(action, numbers.Integral):
            raise TypeError(f"action must be an integer in 0..{self.action_space.n}, not {action!r}")
        obs, reward, terminated, truncated, cost, violations, alerts, report = self._core.step(int(action))
        info = _spaces.step_info(np.float32(cost), violations, alerts)
        if report is not None:
            info["safety"] = _report(report)
        self._frame.advance(obs, action, reward, info)
        return obs, reward, terminated, truncated, info

    def render(self):
        """The last reset's or step's frame: a text frame (``ansi``) or an RGB image
        (``rgb_array``, ``uint8`` of shape ``[height, width, 3]``), as ``render_mode`` chose;
        None, with Gymnasium's warning, where no mode was chosen."""
        if self.render_mode is None:
            gym.logger.warn(
                f"{type(self).__name__}.render() was called without a render_mode: "
                f"make it with render_mode in {_render.RENDER_MODES}"
            )
            return None
        return self._frame.ansi() if self.render_mode == "ansi" else self._frame.rgb()

    # Pickling and copying: the native slot is carried as its snapshot (parameters, stream key,
    # clock, state, running episode), so a copy continues bit for bit.
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_core"] = self._core.snapshot()
        return state

    def __setstate__(self, state):
        state = dict(state)
        state["_core"] = SlotCore.restore(self._env, state["_core"])
        self.__dict__.update(state)


def _report(r) -> dict:
    ret, length, cost, violation_steps, first_violation, first_alert, violations, alerts, detections = r
    return {
        "return": float(ret),
        "length": np.int32(length),
        "cost": np.float32(cost),
        "violation_steps": np.int32(violation_steps),
        "first_violation": np.int32(first_violation),
        "first_alert": np.int32(first_alert),
        "violations": violations,
        "alerts": alerts,
        "detections": detections,
    }


class ToyCloudEnv(_SlotEnv):
    """ToyCloud as a single Gymnasium environment.

    ``scenario``: a preset name (default ``"incident"``; see :func:`rome_sim.toycloud_presets`),
    a RON file path, a scenario-space file with ``draw=``, or a dict of the scenario's fields.
    ``info["cost"]`` is the ground-truth cost of the step; ``info["violations"]`` and
    ``info["alerts"]`` flag each violation kind and monitor (names in ``description``); at an
    episode's end ``info["safety"]`` is its safety report (counts per kind and monitor, first
    violation and alert steps, -1 where none).
    """

    _env = "toycloud"


class CartPoleEnv(_SlotEnv):
    """CartPole-v1 (the project's Rust implementation, checked against Gymnasium's)."""

    _env = "cartpole"
