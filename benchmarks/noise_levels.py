"""Noise on each spindle channel of a dataset, relative to the channel's noise-free signal; JSON.

Compares ``spindles`` with the channels of the stored noise-free ``muscle_length`` (velocity by
the same differencing), per noise level: the std of the noise during the movement over the
std of the noise-free signal during the movement, and the std over time of the noise on the
still steps before the onset (median over samples and muscles; 0 when the still steps hold one
value)::

    python benchmarks/noise_levels.py results/default/dataset.zarr --samples 2000
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np


def main(argv=None) -> None:
    from deepdraw.io import open_zarr
    from deepdraw.spindles import DT, spindle_inputs

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--samples", type=int, default=2000, help="first N samples")
    args = parser.parse_args(argv)
    # samples starting at step 0 have no still step before the onset: NaN, left out
    warnings.simplefilter("ignore", RuntimeWarning)
    ds = open_zarr(args.dataset).isel(sample=slice(0, args.samples))
    noisy = ds["spindles"].values.astype(float)
    clean = spindle_inputs(ds["muscle_length"].values.astype(float), DT).astype(float)
    onset, duration = ds["onset"].values, ds["duration"].values
    level = ds["latent_noise"].values
    steps = np.arange(noisy.shape[2])[None, :]
    moving = (steps >= onset[:, None]) & (steps < (onset + duration)[:, None])
    out = {"dataset": args.dataset, "samples": int(len(level)),
           "mode": json.loads(ds.attrs.get("config", "{}")).get("generation", {}).get("noise"),
           "levels": {}}
    for value in np.unique(level):
        pick = level == value
        row = {}
        for c, name in enumerate(("length", "velocity")):
            noise = noisy[pick, :, :, c] - clean[pick, :, :, c]
            inside = np.broadcast_to(moving[pick, None, :], noise.shape)
            signal = np.where(inside, clean[pick, :, :, c], np.nan)
            ratio = np.nanstd(np.where(inside, noise, np.nan), axis=-1) / np.nanstd(signal, axis=-1)
            row[f"{name}_noise_over_signal"] = float(np.nanmedian(ratio))
            before = np.broadcast_to((steps < onset[:, None])[pick, None, :], noise.shape)
            still = np.where(before, noise, np.nan)
            row[f"{name}_noise_std_before_onset"] = float(np.nanmedian(np.nanstd(still, axis=-1)))
        out["levels"][f"{value:g}"] = row
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
