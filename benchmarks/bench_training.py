"""Training and inference throughput of each network family on this machine's CPU.

Builds one network per family (by default the study's best architectures), then
times ``train_on_batch`` and ``predict_on_batch`` on random inputs of shape (batch, 25, 320, 2)
after one warm-up batch, and projects the time of one epoch over 10^6 samples (the study's
dataset size).

Usage::

    python benchmarks/bench_training.py --json            # one JSON object on stdout
    python benchmarks/bench_training.py --batches 5 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

# the study's best networks per family (Sandbrink et al. 2023)
BEST = {
    "spatial_temporal": {"name": "st_best", "family": "spatial_temporal",
                         "spatial_filters": [8, 16, 16, 32], "spatial_kernel": 7,
                         "spatial_stride": 2, "temporal_filters": [32, 32, 64, 64],
                         "temporal_kernel": 9, "temporal_stride": 3},
    "spatiotemporal": {"name": "sto_best", "family": "spatiotemporal",
                       "filters": [8, 8, 32, 64], "kernel": 7, "stride": 2},
    "recurrent": {"name": "lstm_best", "family": "recurrent", "spatial_filters": [8, 16, 16],
                  "spatial_kernel": 3, "spatial_stride": 1, "lstm_units": [256]},
}


def measure(arch: dict, task: str, batch_size: int, n_batches: int, seed: int = 0) -> dict:
    """Samples per second for training steps and inference of one architecture."""
    from deepdraw.models import build_model, compile_model

    model = compile_model(build_model(arch, task, seed=seed), task)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch_size, 25, 320, 2)).astype("float32")
    if task == "recognition":
        y = rng.integers(0, 20, batch_size).astype("int32")
    else:
        y = rng.normal(size=model.output.shape[1:]).astype("float32")
        y = np.broadcast_to(y, (batch_size, *y.shape)).copy()
    model.train_on_batch(x, y)  # warm-up: tracing and graph compilation
    model.predict_on_batch(x)
    start = time.perf_counter()
    for _ in range(n_batches):
        model.train_on_batch(x, y)
    train_rate = n_batches * batch_size / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(n_batches):
        model.predict_on_batch(x)
    infer_rate = n_batches * batch_size / (time.perf_counter() - start)
    return {"architecture": arch, "n_parameters": int(model.count_params()),
            "train_samples_per_s": round(train_rate, 1),
            "inference_samples_per_s": round(infer_rate, 1),
            "epoch_hours_at_1e6_samples": round(1e6 / train_rate / 3600, 2)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--batches", type=int, default=3, help="timed batches per measurement")
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow threads")
    parser.add_argument("--task", default="recognition")
    parser.add_argument("--families", nargs="+", default=list(BEST), choices=list(BEST))
    args = parser.parse_args(argv)

    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    result = {"batch_size": args.batch_size, "task": args.task, "device": "CPU",
              "cpu_count": os.cpu_count(), "threads": args.threads,
              "tensorflow": tf.__version__, "machine": platform.machine(), "families": {}}
    for family in args.families:
        result["families"][family] = measure(BEST[family], args.task, args.batch_size,
                                             args.batches)
        if not args.json:
            r = result["families"][family]
            print(f"{family:17s} {r['n_parameters']:8d} params  train {r['train_samples_per_s']:8.1f}"
                  f" samples/s  inference {r['inference_samples_per_s']:8.1f} samples/s"
                  f"  epoch of 1e6: {r['epoch_hours_at_1e6_samples']:.2f} h", flush=True)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
