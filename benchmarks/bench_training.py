"""Input-pipeline throughput and training/inference step rates of each network family.

Input pipeline (no model): iterates :meth:`deepdraw.training.ZarrBatches.dataset` (the
``tf.data`` pipeline ``fit`` consumes) over whole epochs of the train split of a dataset store,
with the workflow's defaults (inputs cached in memory when they fit) and streamed from zarr
(``cache_inputs: false``). Without ``--dataset`` a synthetic store of ``--samples`` samples with
the dataset contract (``tests/synthetic.py``, written in blocks, storage chunks of 256 samples as
the dataset rule writes) is made in a temporary directory; the JSON says so.

Step rates: builds one network per family (by default the study's best architectures), then
times ``train_on_batch`` and ``predict_on_batch`` on random inputs of shape (batch, 25, 320, 2)
after one warm-up batch, and projects the time of one epoch over 10^6 samples (the study's
dataset size). ``device`` is the device TensorFlow trained on (GPU when one is visible);
``--precision`` and ``--jit-compile`` select mixed precision and XLA as the config options do.

Usage::

    python benchmarks/bench_training.py --json            # one JSON object on stdout
    python benchmarks/bench_training.py --batches 5 --threads 2 --skip-input
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# the study's best networks per family (the medium config trains them)
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


def synthetic_store(path: Path, n_samples: int, block: int = 5000) -> Path:
    """A contract-conforming store of ``n_samples`` synthetic samples, chunked as the dataset.

    Blocks of ``block`` samples (``tests/synthetic.py``, one seed each) keep the memory of the
    generator low; they are concatenated and written with the dataset's 256-sample chunks.
    """
    import xarray as xr

    from deepdraw.dataset import SAMPLE_CHUNK
    from deepdraw.io import open_zarr, write_zarr

    sys.path.insert(0, str(ROOT / "tests"))
    from synthetic import make_synthetic_dataset

    parts = []
    for k, lo in enumerate(range(0, n_samples, block)):
        part = make_synthetic_dataset(path.with_name(f"block{k}.zarr"),
                                      min(block, n_samples - lo), seed=k)
        parts.append(open_zarr(part).load())
    write_zarr(xr.concat(parts, dim="sample"), path, sample_chunk=SAMPLE_CHUNK)
    return path


def measure_input(store: Path, batch_size: int, epochs: int, threads: int | None) -> dict:
    """Samples per second delivered by the training input pipeline, no model attached."""
    from deepdraw.training import ZarrBatches, resolve_settings

    defaults = resolve_settings({})  # the schema's defaults

    def epoch_rate(source, epoch):
        source.epoch = epoch
        start, n = time.perf_counter(), 0
        for x, _ in source.dataset():
            n += int(x.shape[0])
        return n / (time.perf_counter() - start)

    out = {}
    for name, cache in (("cached", defaults["cache_inputs"]), ("streamed", "false")):
        start = time.perf_counter()
        source = ZarrBatches(store, "train", "recognition", batch_size, shuffle=True, seed=0,
                             shuffle_chunks=defaults["shuffle_chunks"], cache=cache,
                             cache_max_mb=defaults["cache_max_mb"],
                             readers=max(2, threads or 1))
        setup = time.perf_counter() - start
        rates = [epoch_rate(source, e) for e in range(epochs)]
        out[name] = {"cached": source.cached, "setup_s": round(setup, 2),
                     "epoch_samples_per_s": [round(r) for r in rates]}
    out["train_samples"] = source.n_samples
    return out


def measure(arch: dict, task: str, batch_size: int, n_batches: int, seed: int = 0,
            precision: str = "float32", jit_compile: bool = False) -> dict:
    """Samples per second for training steps and inference of one architecture."""
    from deepdraw.models import build_model, compile_model
    from deepdraw.training import precision_policy

    with precision_policy(precision):
        model = compile_model(build_model(arch, task, seed=seed), task, jit_compile=jit_compile)
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
    parser.add_argument("--precision", default="float32",
                        choices=["float32", "mixed_float16", "mixed_bfloat16"])
    parser.add_argument("--jit-compile", action="store_true", help="XLA-compile the steps")
    parser.add_argument("--dataset", type=Path, help="dataset.zarr for the input pipeline")
    parser.add_argument("--samples", type=int, default=20000,
                        help="size of the synthetic store made without --dataset")
    parser.add_argument("--input-epochs", type=int, default=2)
    parser.add_argument("--skip-input", action="store_true", help="model step rates only")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from deepdraw.training import cuda_build

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    gpus = tf.config.list_physical_devices("GPU")
    result = {"batch_size": args.batch_size, "task": args.task,
              "device": "GPU" if gpus else "CPU",
              "physical_devices": [d.name for d in tf.config.list_physical_devices()],
              "cuda_build": cuda_build(), "precision": args.precision,
              "jit_compile": args.jit_compile, "cpu_count": os.cpu_count(),
              "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
              "threads": args.threads, "tensorflow": tf.__version__,
              "machine": platform.machine()}
    if not args.skip_input:
        with tempfile.TemporaryDirectory() as tmp:
            if args.dataset:
                store, source = args.dataset, {"synthetic": False, "path": str(args.dataset)}
            else:
                store = synthetic_store(Path(tmp) / "dataset.zarr", args.samples)
                source = {"synthetic": True, "samples": args.samples,
                          "made_by": "tests/synthetic.py (blocks of 5000, chunks of 256)"}
            pipeline = measure_input(store, args.batch_size, args.input_epochs, args.threads)
        pipeline["dataset"] = source
        # the rate fit sees once the cache is filled (the default); streaming is the fallback
        # when the inputs exceed training.cache_max_mb
        result["input_samples_per_s"] = pipeline["cached"]["epoch_samples_per_s"][-1]
        result["input_pipeline"] = pipeline
        if not args.json:
            print(json.dumps(pipeline), flush=True)
    result["families"] = {}
    for family in args.families:
        result["families"][family] = measure(BEST[family], args.task, args.batch_size,
                                             args.batches, precision=args.precision,
                                             jit_compile=args.jit_compile)
        if not args.json:
            r = result["families"][family]
            print(f"{family:17s} {r['n_parameters']:8d} params  train {r['train_samples_per_s']:8.1f}"
                  f" samples/s  inference {r['inference_samples_per_s']:8.1f} samples/s"
                  f"  epoch of 1e6: {r['epoch_hours_at_1e6_samples']:.2f} h", flush=True)
    result["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
