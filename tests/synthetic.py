"""A small synthetic ``dataset.zarr`` that follows the contract of docs/architecture.md.

Used by training and analysis tests before (and independently of) the generator.
The label is written into the spindle inputs (a letter-specific bump on a few
muscles), so a network can learn it; kinematics are smooth circles so tuning
features are well defined.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from deepdraw.augmentation import LATENT_SETS
from deepdraw.contract import DT, LETTERS, N_MUSCLES, PLANE_FLAGS, SPLIT_FLAGS
from deepdraw.contract import WINDOW_STEPS as N_TIME
from deepdraw.io import write_zarr

MUSCLES = [f"M{i}" for i in range(N_MUSCLES)]
JOINTS = ["elv_angle", "shoulder_elv", "shoulder_rot", "elbow_flexion"]


def make_synthetic_dataset(path: str | Path, n_samples: int = 400, n_classes: int = 20, seed: int = 0) -> Path:
    """Write a contract-conforming dataset store of ``n_samples`` samples and return its path."""
    rng = np.random.default_rng(seed)
    t = np.arange(N_TIME) * DT
    label = np.arange(n_samples) % n_classes
    rng.shuffle(label)
    plane = rng.integers(0, 2, n_samples)
    phase = rng.uniform(0, 2 * np.pi, n_samples)
    freq = 0.5 + 0.1 * label
    angle = 2 * np.pi * freq[:, None] * t[None, :] + phase[:, None]
    hand = np.stack([5 * np.cos(angle), 5 * np.sin(angle), np.zeros_like(angle)], axis=-1)
    hand[plane == 1] = hand[plane == 1][..., [2, 0, 1]]
    joints = 40 + 10 * np.stack([np.sin(angle + k) for k in range(4)], axis=-1)
    moment_arms = 0.3 * rng.standard_normal((N_MUSCLES, 4))
    lengths = 100 + 5 * rng.standard_normal((n_samples, N_MUSCLES, 1))
    lengths = lengths + np.einsum("stj,mj->smt", joints - 40, moment_arms)
    bump = np.exp(-0.5 * ((t - 1.0 - 0.1 * label[:, None]) / 0.2) ** 2)
    signal = lengths.copy()
    signal[np.arange(n_samples), label % N_MUSCLES, :] += 20 * bump
    noisy = signal + rng.standard_normal(signal.shape)
    velocity = np.gradient(noisy, DT, axis=-1)
    spindles = np.stack([noisy, velocity], axis=-1).astype("float32")

    split = np.zeros(n_samples, dtype="int8")
    order = rng.permutation(n_samples)
    split[order[: n_samples // 10]] = 1
    split[order[n_samples // 10 : n_samples // 5]] = 2
    latents = {f"latent_{name}": rng.choice(values, n_samples) for name, values in LATENT_SETS.items()}
    data_vars = {
        "spindles": (("sample", "muscle", "time", "channel"), spindles, {"units": "mm, mm/s"}),
        "label": ("sample", label.astype("int16"), {"letters": LETTERS[:n_classes]}),
        "plane": ("sample", plane.astype("int8"), PLANE_FLAGS),
        "split": ("sample", split, SPLIT_FLAGS),
        "source_index": ("sample", np.arange(n_samples, dtype="int32")),
        "start_point": (("sample", "xyz"), rng.normal(0, 5, (n_samples, 3)).astype("float32"), {"units": "cm"}),
        "onset": ("sample", np.zeros(n_samples, dtype="int16")),
        "duration": ("sample", np.full(n_samples, N_TIME, dtype="int16")),
        "hand": (("sample", "time", "xyz"), hand.astype("float32"), {"units": "cm"}),
        "joints": (("sample", "time", "joint"), joints.astype("float32"), {"units": "deg"}),
        "muscle_length": (("sample", "muscle", "time"), signal.astype("float32"), {"units": "mm"}),
    }
    data_vars.update({k: ("sample", v.astype("float32")) for k, v in latents.items()})
    ds = xr.Dataset(
        data_vars,
        coords={
            "muscle": MUSCLES,
            "time": t,
            "channel": ["length", "velocity"],
            "joint": JOINTS,
            "xyz": ["x", "y", "z"],
        },
        attrs={"seed": seed, "synthetic": 1, "split_by": "sample"},
    )
    write_zarr(ds, path, sample_chunk=128)
    return Path(path)
