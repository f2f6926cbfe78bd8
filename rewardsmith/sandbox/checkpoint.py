"""Resumable training state as plain numbers (successive halving continues a candidate's training).

``save`` (training child) gives the policy's parameters, Adam's moments and step counts, VecNormalize's
running statistics and the step count, every array as base64 float32 (``policy.encode_array``), plus
the deterministic actor (``policy.encode_policy``) that renders and evaluations use. ``restore`` loads
them into a fresh PPO built with the same settings. No pickle anywhere: a checkpoint is data, so a
hostile training child can at worst hand its own later leg a bad policy. ``check`` validates one
without torch (the parent runs it on everything a child sends).
"""

from __future__ import annotations

import math

from .policy import NumpyPolicy, PolicyFormatError, decode_array, encode_array

FORMAT = "rewardsmith-ppo-checkpoint-1"
_RMS = ("obs_mean", "obs_var", "ret_mean", "ret_var")


def save(model, vecnormalize=None) -> dict:
    """The training state of ``model`` (and its VecNormalize) as plain numbers."""
    from .policy import encode_policy

    params = {name: encode_array(t.detach().cpu().numpy()) for name, t in model.policy.state_dict().items()}
    state = []
    for index, entry in model.policy.optimizer.state_dict()["state"].items():
        moments, scalars = {}, {}
        for key, value in entry.items():
            if getattr(value, "dim", lambda: 0)() == 0:
                scalars[key] = float(value)
            else:
                moments[key] = encode_array(value.detach().cpu().numpy())
        state.append({"index": int(index), "scalars": scalars, "moments": moments})
    data = {"format": FORMAT, "num_timesteps": int(model.num_timesteps), "params": params,
            "optimizer": state, "policy": encode_policy(model, vecnormalize), "vecnormalize": None}
    if vecnormalize is not None:
        data["vecnormalize"] = {
            "obs_mean": encode_array(vecnormalize.obs_rms.mean), "obs_var": encode_array(vecnormalize.obs_rms.var),
            "obs_count": float(vecnormalize.obs_rms.count),
            "ret_mean": encode_array(vecnormalize.ret_rms.mean), "ret_var": encode_array(vecnormalize.ret_rms.var),
            "ret_count": float(vecnormalize.ret_rms.count)}
    return data


KEYS = ("format", "num_timesteps", "params", "optimizer", "policy", "vecnormalize")


def check(data) -> dict:
    """``data`` if it is a well-formed checkpoint of finite numbers; PolicyFormatError says what is not.
    (``clean`` gives the same with nothing but its own keys.)"""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PolicyFormatError(f"not a checkpoint of format {FORMAT!r} (checkpoints of rewardsmith 0.1 held "
                                f"pickled models, which are no longer read; train the candidate afresh)")
    steps = data.get("num_timesteps")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise PolicyFormatError("checkpoint num_timesteps is not a non-negative int")
    params = data.get("params")
    if not isinstance(params, dict) or not params or len(params) > 64:
        raise PolicyFormatError("checkpoint params is not a dict of at most 64 arrays")
    for name, value in params.items():
        decode_array(value, f"checkpoint parameter {str(name)[:60]!r}")
    state = data.get("optimizer")
    if not isinstance(state, list) or len(state) > len(params):
        raise PolicyFormatError("checkpoint optimizer state is not a list (one entry per parameter at most)")
    for entry in state:
        if not isinstance(entry, dict) or not isinstance(entry.get("index"), int) \
                or not isinstance(entry.get("scalars"), dict) or not isinstance(entry.get("moments"), dict):
            raise PolicyFormatError("checkpoint optimizer entry is not {index, scalars, moments}")
        for key, value in entry["scalars"].items():
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise PolicyFormatError(f"checkpoint optimizer scalar {str(key)[:30]!r} is not a finite number")
        for key, value in entry["moments"].items():
            decode_array(value, f"checkpoint optimizer moment {str(key)[:30]!r}")
    NumpyPolicy(data.get("policy"))
    vn = data.get("vecnormalize")
    if vn is not None:
        if not isinstance(vn, dict):
            raise PolicyFormatError("checkpoint vecnormalize is not a dict")
        for key in _RMS:
            decode_array(vn.get(key), f"checkpoint vecnormalize {key}")
        for key in ("obs_count", "ret_count"):
            if not isinstance(vn.get(key), (int, float)) or not math.isfinite(vn[key]) or vn[key] < 0:
                raise PolicyFormatError(f"checkpoint vecnormalize {key} is not a non-negative number")
    return data


def restore(model, vecnormalize, data: dict) -> None:
    """Loads a checked checkpoint into a fresh ``model`` built with the same settings."""
    import numpy as np
    import torch

    check(data)
    current = model.policy.state_dict()
    if set(data["params"]) != set(current):
        raise PolicyFormatError("the checkpoint's parameters do not match this policy's (other settings?)")
    params = {}
    for name, tensor in current.items():
        array = decode_array(data["params"][name], f"parameter {name}", shape=tuple(tensor.shape))
        params[name] = torch.as_tensor(np.array(array), dtype=tensor.dtype)
    model.policy.load_state_dict(params)
    optimizer = model.policy.optimizer
    shapes = [p.shape for group in optimizer.param_groups for p in group["params"]]
    state = {}
    for entry in data["optimizer"]:
        index = entry["index"]
        if not 0 <= index < len(shapes):
            raise PolicyFormatError(f"optimizer state for parameter {index}; the policy has {len(shapes)}")
        values = {k: torch.tensor(float(v), dtype=torch.float32) for k, v in entry["scalars"].items()}
        for key, value in entry["moments"].items():
            values[key] = torch.as_tensor(np.array(decode_array(value, key, shape=tuple(shapes[index]))))
        state[index] = values
    optimizer.load_state_dict({"state": state, "param_groups": optimizer.state_dict()["param_groups"]})
    model.num_timesteps = int(data["num_timesteps"])
    vn = data.get("vecnormalize")
    if (vn is None) != (vecnormalize is None):
        raise PolicyFormatError("the checkpoint's observation normalisation does not match the settings'")
    if vn is not None:
        for rms, prefix in ((vecnormalize.obs_rms, "obs"), (vecnormalize.ret_rms, "ret")):
            for key in ("mean", "var"):
                current = np.asarray(getattr(rms, key))
                value = decode_array(vn[f"{prefix}_{key}"], f"{prefix} {key}")
                if value.size != current.size:
                    raise PolicyFormatError(f"checkpoint {prefix} {key} has {value.size} values; expected {current.size}")
                setattr(rms, key, value.astype(np.float64).reshape(current.shape))
            rms.count = float(vn[f"{prefix}_count"])


def clean(data) -> dict:
    """A checked checkpoint with only the keys a checkpoint has (a child may have added others)."""
    check(data)
    return {**{key: data[key] for key in KEYS}, "policy": NumpyPolicy(data["policy"]).as_data()}
