"""A trained policy as plain numbers, and its forward pass in numpy (no torch, no pickle).

The training child encodes SB3's MlpPolicy actor (``encode_policy``); the evaluation and render
children, which never load candidate code, rebuild it with ``NumpyPolicy`` and act deterministically
exactly as ``model.predict(obs, deterministic=True)`` does: observation normalisation (VecNormalize's
running mean and variance), the actor MLP, the action head, then clipping to a Box's bounds or the
argmax of a Discrete's logits. Arrays travel as ``{"shape": [...], "data": base64 little-endian
float32}``; ``decode_array`` refuses anything malformed or not finite.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import numpy as np

from ..errors import RewardsmithError

FORMAT = "rewardsmith-mlp-1"
ACTIVATIONS = ("tanh", "relu", "elu", "gelu", "leakyrelu", "sigmoid", "identity")
MAX_ELEMENTS = 50_000_000  # far above any MLP PPO trains here; a bound on what a message may claim


class PolicyFormatError(RewardsmithError, ValueError):
    """Numbers that do not describe a policy (or a checkpoint) of the expected form."""


def encode_array(array) -> dict:
    """``{"shape", "data"}``: the array as little-endian float32 in base64."""
    a = np.ascontiguousarray(np.asarray(array, dtype="<f4"))
    return {"shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_array(value, what: str, *, shape: tuple | None = None, finite: bool = True) -> np.ndarray:
    """The float32 array ``value`` encodes, checked: a dict with an int shape, data of exactly that
    many float32s, finite values (and ``shape`` when given; -1 matches any size)."""
    if not isinstance(value, dict) or set(value) != {"shape", "data"}:
        raise PolicyFormatError(f"{what}: expected {{'shape': [...], 'data': base64}}, got {_kind(value)}")
    dims, data = value["shape"], value["data"]
    if not isinstance(dims, list) or len(dims) > 4 or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= MAX_ELEMENTS for d in dims):
        raise PolicyFormatError(f"{what}: shape {str(dims)[:60]} is not a list of at most 4 sizes")
    count = math.prod(dims)
    if count > MAX_ELEMENTS or not isinstance(data, str) or len(data) > 4 * (4 * count + 2) // 3 + 4:
        raise PolicyFormatError(f"{what}: {count} elements, or data that is not base64 text of that size")
    try:
        raw = base64.b64decode(data.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise PolicyFormatError(f"{what}: data is not base64 ({exc})") from None
    if len(raw) != 4 * count:
        raise PolicyFormatError(f"{what}: {len(raw)} bytes of data for shape {dims}; expected {4 * count}")
    array = np.frombuffer(raw, dtype="<f4").reshape(dims).astype(np.float32)
    if shape is not None and (len(shape) != len(dims) or any(s not in (-1, d) for s, d in zip(shape, dims))):
        raise PolicyFormatError(f"{what}: shape {dims}; expected {list(shape)}")
    if finite and not np.all(np.isfinite(array)):
        raise PolicyFormatError(f"{what}: contains NaN or infinite values")
    return array


def _kind(value) -> str:
    return type(value).__name__


# --------------------------------------------------------------------------- encoding (training child)


def encode_policy(model, vecnormalize=None) -> dict:
    """SB3 PPO's deterministic actor as plain numbers (the training child's side; imports torch)."""
    import torch.nn as nn
    from gymnasium import spaces

    policy = model.policy
    if not isinstance(policy.observation_space, spaces.Box):
        raise PolicyFormatError(f"only Box observation spaces are supported, not {policy.observation_space}")
    layers, activation = [], None
    for module in policy.mlp_extractor.policy_net:
        if isinstance(module, nn.Linear):
            layers.append({"weight": encode_array(module.weight.detach().cpu().numpy()),
                           "bias": encode_array(module.bias.detach().cpu().numpy())})
        else:
            name = type(module).__name__.lower()
            if name not in ACTIVATIONS or activation not in (None, name):
                raise PolicyFormatError(f"unsupported layer {type(module).__name__} in the policy network")
            activation = name
    head = policy.action_net
    space = policy.action_space
    if isinstance(space, spaces.Box):
        action = {"type": "box", "low": encode_array(space.low), "high": encode_array(space.high),
                  "squash": bool(getattr(policy, "squash_output", False))}
    elif isinstance(space, spaces.Discrete):
        action = {"type": "discrete", "n": int(space.n), "start": int(space.start)}
    else:
        raise PolicyFormatError(f"only Box and Discrete action spaces are supported, not {space}")
    normalize = None
    if vecnormalize is not None and vecnormalize.norm_obs:
        normalize = {"mean": encode_array(vecnormalize.obs_rms.mean), "var": encode_array(vecnormalize.obs_rms.var),
                     "epsilon": float(vecnormalize.epsilon), "clip_obs": float(vecnormalize.clip_obs)}
    return {
        "format": FORMAT, "obs_shape": list(policy.observation_space.shape),
        "layers": layers, "activation": activation or "identity",
        "head": {"weight": encode_array(head.weight.detach().cpu().numpy()),
                 "bias": encode_array(head.bias.detach().cpu().numpy())},
        "action": action, "normalize": normalize,
    }


# --------------------------------------------------------------------------- the numpy forward pass


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0))).astype(np.float32)


def _activation(name: str):
    if name == "tanh":
        return np.tanh
    if name == "relu":
        return lambda x: np.maximum(x, np.float32(0))
    if name == "elu":
        return _elu
    if name == "leakyrelu":
        return lambda x: np.where(x > 0, x, np.float32(0.01) * x)
    if name == "sigmoid":
        return lambda x: (1 / (1 + np.exp(-x))).astype(np.float32)
    if name == "gelu":
        erf = np.frompyfunc(math.erf, 1, 1)
        return lambda x: (0.5 * x * (1 + erf(x / math.sqrt(2)).astype(np.float32))).astype(np.float32)
    return lambda x: x


class NumpyPolicy:
    """The deterministic policy ``encode_policy`` described, checked on construction; call it on a
    raw observation to get the action the environment takes."""

    def __init__(self, data: object):  # untrusted: checked here
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise PolicyFormatError(f"not a policy of format {FORMAT!r} (a checkpoint from an older "
                                    f"rewardsmith holds a pickled model, which is no longer read)")
        obs_shape = data.get("obs_shape")
        if not isinstance(obs_shape, list) or not all(isinstance(d, int) and 0 < d <= 1_000_000 for d in obs_shape):
            raise PolicyFormatError("obs_shape is not a list of positive sizes")
        self.obs_shape = tuple(obs_shape)
        width = math.prod(obs_shape)
        if data.get("activation") not in ACTIVATIONS:
            raise PolicyFormatError(f"unknown activation {str(data.get('activation'))[:30]!r}")
        self.activation_name = data["activation"]
        self.activation = _activation(data["activation"])
        layers = data.get("layers")
        if not isinstance(layers, list) or len(layers) > 16:
            raise PolicyFormatError("layers is not a list of at most 16 layers")
        self.layers = []
        for i, layer in enumerate(layers + [data.get("head")]):
            what = f"layer {i}" if i < len(layers) else "the action head"
            if not isinstance(layer, dict):
                raise PolicyFormatError(f"{what} is not a dict")
            weight = decode_array(layer.get("weight"), f"{what} weight", shape=(-1, width))
            bias = decode_array(layer.get("bias"), f"{what} bias", shape=(weight.shape[0],))
            self.layers.append((weight, bias))
            width = weight.shape[0]
        action = data.get("action")
        if not isinstance(action, dict) or action.get("type") not in ("box", "discrete"):
            raise PolicyFormatError("action is not a box or discrete action description")
        self.discrete = action["type"] == "discrete"
        if self.discrete:
            n, start = action.get("n"), action.get("start", 0)
            if not isinstance(n, int) or not isinstance(start, int) or n != width:
                raise PolicyFormatError(f"discrete action: n={n!r} does not match the head's {width} outputs")
            self.start = start
        else:
            self.low = decode_array(action.get("low"), "action low", finite=False)
            self.high = decode_array(action.get("high"), "action high", shape=self.low.shape, finite=False)
            if self.low.size != width or np.isnan(self.low).any() or np.isnan(self.high).any():
                raise PolicyFormatError(f"box action bounds of {self.low.size} dimensions (or NaN); the "
                                        f"head gives {width}")
            self.squash = bool(action.get("squash", False))
        normalize = data.get("normalize")
        self.normalize = None
        if normalize is not None:
            if not isinstance(normalize, dict):
                raise PolicyFormatError("normalize is not a dict")
            mean = decode_array(normalize.get("mean"), "observation mean", shape=self.obs_shape)
            var = decode_array(normalize.get("var"), "observation variance", shape=self.obs_shape)
            eps: Any = normalize.get("epsilon")  # untrusted: checked on the next line
            clip: Any = normalize.get("clip_obs")
            if not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in (eps, clip)) or np.any(var < 0):
                raise PolicyFormatError("normalize: epsilon and clip_obs must be positive, var non-negative")
            self.normalize_data = {"mean": encode_array(mean), "var": encode_array(var), "epsilon": float(eps),
                                   "clip_obs": float(clip)}
            # VecNormalize computes in float64
            self.normalize = (mean.astype(np.float64), np.sqrt(var.astype(np.float64) + float(eps)), float(clip))

    def as_data(self) -> dict:
        """This policy encoded afresh from the checked arrays: what was checked and nothing else."""
        layers = [{"weight": encode_array(w), "bias": encode_array(b)} for w, b in self.layers]
        if self.discrete:
            action = {"type": "discrete", "n": int(self.layers[-1][0].shape[0]), "start": self.start}
        else:
            action = {"type": "box", "low": encode_array(self.low), "high": encode_array(self.high),
                      "squash": self.squash}
        return {"format": FORMAT, "obs_shape": list(self.obs_shape), "layers": layers[:-1],
                "activation": self.activation_name, "head": layers[-1], "action": action,
                "normalize": self.normalize_data if self.normalize is not None else None}

    def __call__(self, obs) -> np.ndarray | int:
        x = np.asarray(obs, dtype=np.float64).reshape(self.obs_shape)
        if self.normalize is not None:
            mean, scale, clip = self.normalize
            x = np.clip((x - mean) / scale, -clip, clip)
        h = x.astype(np.float32).reshape(-1)
        last = len(self.layers) - 1
        for i, (weight, bias) in enumerate(self.layers):
            h = weight @ h + bias
            if i < last:
                h = self.activation(h)
        if self.discrete:
            return int(np.argmax(h)) + self.start
        action = h.reshape(self.low.shape)
        if self.squash:  # tanh-squashed policies (not PPO's default) rescale from [-1, 1]
            action = self.low + (0.5 * (action + 1.0) * (self.high - self.low))
        return np.clip(action, self.low, self.high)
