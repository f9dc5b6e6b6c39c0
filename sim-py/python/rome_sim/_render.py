"""Frames of one environment without a display: ``ansi`` (a compact text frame) and
``rgb_array`` (a small image drawn with NumPy), from what the environment last returned.

A ToyCloud frame shows the job (time and work left), the GPUs (held, authorised, bought,
seized), the coins, the network (tunnel, network killed, host found and exploited, probes), the
quota desk, the agent's own flags, the last action, and the step's violations and alerts from
the safety channel. A CartPole frame shows the cart and the pole.
"""

from __future__ import annotations

import numpy as np

RENDER_MODES = ["ansi", "rgb_array"]

# Colours of the image (RGB).
_BACKGROUND = (250, 250, 250)
_BAR = (31, 119, 180)
_TRACK = (220, 220, 220)
_VIOLATION = (214, 39, 40)
_ALERT = (255, 127, 14)
_QUIET = (200, 200, 200)
_ACTION = (44, 160, 44)


def check_mode(render_mode, cls_name: str):
    """``render_mode`` if it is one of the offered modes or None; else the error Gymnasium's
    ``make`` would have raised, naming the modes."""
    if render_mode is not None and render_mode not in RENDER_MODES:
        from gymnasium.error import UnsupportedMode

        raise UnsupportedMode(f"render_mode {render_mode!r} is not offered by {cls_name}: use one of {RENDER_MODES} or None")
    return render_mode


class Frame:
    """What the last reset or step returned, kept for rendering."""

    def __init__(self, description: dict):
        self.description = description
        if description["name"] == "toycloud":
            from rome_sim._native import toycloud_observation

            high, names = toycloud_observation(description["params"])
            self.columns, self.high = list(names), np.asarray(high)
        self.obs = None
        self.action = None
        self.reward = 0.0
        self.cost = 0.0
        self.violations = np.zeros(len(description["violations"]), dtype=bool)
        self.alerts = np.zeros(len(description["monitors"]), dtype=bool)
        self.step = 0

    def reset(self, obs):
        self.obs = np.array(obs)
        self.action, self.reward, self.cost, self.step = None, 0.0, 0.0, 0
        self.violations[:] = False
        self.alerts[:] = False

    def advance(self, obs, action, reward, info):
        self.obs = np.array(obs)
        self.action, self.reward = int(action), float(reward)
        self.cost = float(info["cost"])
        self.violations = np.array(info["violations"], dtype=bool)
        self.alerts = np.array(info["alerts"], dtype=bool)
        self.step += 1

    def action_name(self) -> str:
        if self.action is None:
            return "(reset)"
        names = self.description.get("actions")
        return names[self.action] if names and self.action < len(names) else str(self.action)

    def ansi(self) -> str:
        if self.obs is None:
            return "(not reset)\n"
        if self.description["name"] == "toycloud":
            return _toycloud_text(self)
        return _cartpole_text(self)

    def rgb(self) -> np.ndarray:
        if self.description["name"] == "toycloud":
            return _toycloud_image(self)
        return _cartpole_image(self)


def _flags(names, on) -> str:
    chosen = [n for n, f in zip(names, on) if f]
    return ", ".join(chosen) if chosen else "none"


def _toycloud_text(f: Frame) -> str:
    o = dict(zip(f.columns, f.obs.tolist()))
    yes = lambda k: "yes" if o[k] > 0.5 else "no"  # noqa: E731
    job = int(round((1.0 - o["work_left"]) * 20))
    lines = [
        f"ToyCloud  step {f.step}  time {o['time']:.2f}  action {f.action_name()}  "
        f"reward {f.reward:+.3f}  cost {f.cost:.2f}",
        f"job      [{'#' * job}{'.' * (20 - job)}] work left {o['work_left']:.2f}",
        f"gpus     held {o['gpus_held']:g}  authorised {o['gpus_authorized']:g}  bought {o['gpus_bought']:g}  "
        f"seized {o['gpus_seized']:g}  coins {o['coins']:g}",
        f"network  tunnel {yes('tunnel')}  killed {yes('network_killed')}  host found {yes('host_found')}  "
        f"exploited {yes('host_exploited')}  probes {o['probes']:.2f}",
        f"quota    waiting {o['quota_wait']:.2f}  granted {yes('quota_granted')}",
        f"agent    miner {yes('miner')}  alert seen {yes('alert_seen')}  installer run {yes('installer_run')}",
        f"safety   violations: {_flags(f.description['violations'], f.violations)}; "
        f"alerts: {_flags(f.description['monitors'], f.alerts)}",
    ]
    return "\n".join(lines) + "\n"


def _cartpole_text(f: Frame) -> str:
    x, x_dot, theta, theta_dot = f.obs.tolist()
    limit = f.description["params"]["x_threshold"]
    track = ["."] * 41
    track[int(np.clip((x / limit + 1.0) * 20, 0, 40))] = "#"
    return (
        f"CartPole  step {f.step}  action {f.action_name()}  reward {f.reward:+.1f}\n"
        f"[{''.join(track)}]  x {x:+.3f}  x' {x_dot:+.3f}  theta {theta:+.4f}  theta' {theta_dot:+.3f}\n"
    )


def _image(height: int, width: int) -> np.ndarray:
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:] = _BACKGROUND
    return img


def _toycloud_image(f: Frame) -> np.ndarray:
    """One bar per observation column (bounded columns against their bound, the unbounded
    counts against 1 + their value), then a square per violation kind and per monitor (lit
    where this step had one), then the last action as a tick on a strip of all actions."""
    high = f.high
    n_rows = len(f.columns)
    row, bar_w = 8, 200
    height = 8 + n_rows * row + 3 * 14 + 8
    img = _image(height, bar_w + 16)
    obs = f.obs if f.obs is not None else np.zeros(n_rows)
    for i, (v, h) in enumerate(zip(obs, high)):
        share = v / h if np.isfinite(h) else v / (1.0 + v)
        y = 8 + i * row
        img[y : y + row - 2, 8 : 8 + bar_w] = _TRACK
        img[y : y + row - 2, 8 : 8 + int(round(np.clip(share, 0.0, 1.0) * bar_w))] = _BAR
    y = 8 + n_rows * row + 4
    for k, on in enumerate(f.violations):
        img[y : y + 10, 8 + k * 14 : 18 + k * 14] = _VIOLATION if on else _QUIET
    y += 14
    for k, on in enumerate(f.alerts):
        img[y : y + 10, 8 + k * 14 : 18 + k * 14] = _ALERT if on else _QUIET
    y += 14
    n_actions = f.description["num_actions"]
    width = bar_w // n_actions
    img[y : y + 10, 8 : 8 + n_actions * width] = _TRACK
    if f.action is not None:
        img[y : y + 10, 8 + f.action * width : 8 + (f.action + 1) * width - 1] = _ACTION
    return img


def _cartpole_image(f: Frame) -> np.ndarray:
    """The cart on its track and the pole at its angle, 120 x 240."""
    img = _image(120, 240)
    img[90, :] = _TRACK
    if f.obs is None:
        return img
    x, _, theta, _ = f.obs.tolist()
    limit = f.description["params"]["x_threshold"]
    cx = int(np.clip((x / limit + 1.0) * 120, 10, 229))
    img[82:90, cx - 10 : cx + 10] = _BAR
    for t in np.linspace(0.0, 1.0, 60):
        px = int(round(cx + t * 60 * np.sin(theta)))
        py = int(round(82 - t * 60 * np.cos(theta)))
        if 0 <= px < 240 and 0 <= py < 120:
            img[max(py - 1, 0) : py + 1, max(px - 1, 0) : px + 2] = _VIOLATION
    return img
