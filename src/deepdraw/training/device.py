"""TensorFlow set-up of a training job: determinism, device (GPU or CPU), precision, records.

``device``: ``auto`` trains on a GPU when TensorFlow sees one, ``gpu`` requires one (a job that
holds a GPU must use it: without one it fails, unless ``allow_cpu_fallback``), ``cpu`` hides the
GPUs. ``precision``: ``float32``, or Keras mixed precision (``mixed_float16`` /
``mixed_bfloat16``: layers compute in 16 bits, variables, the input normalisation and the
read-out stay float32, so outputs are float32).
"""

from __future__ import annotations

import contextlib
import logging
import os

log = logging.getLogger(__name__)

DEVICES = ("auto", "gpu", "cpu")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def configure_tensorflow(seed: int, threads: int | None = None,
                         deterministic: bool = True) -> None:
    """Seed all generators and make TensorFlow ops deterministic (identical weights per seed).

    ``deterministic=False`` leaves TensorFlow's op determinism off: Keras compiles nothing with
    XLA while it is on, so runs with ``jit_compile`` give up bit-identical reruns.
    """
    import keras
    import tensorflow as tf

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(threads))
        except RuntimeError:  # TensorFlow already started in this process (tests, notebooks)
            log.warning("TensorFlow already initialised; thread settings unchanged")
    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        # no public switch back (a process that trained deterministically before, e.g. tests)
        from tensorflow.python.framework.config import disable_op_determinism

        disable_op_determinism()


def cuda_build() -> bool:
    """Whether the installed TensorFlow was built with CUDA (``tensorflow[and-cuda]``)."""
    import tensorflow as tf

    return bool(tf.sysconfig.get_build_info().get("is_cuda_build", False))


def select_device(device: str = "auto", allow_cpu_fallback: bool = False) -> str:
    """Choose the device of this process's training: ``"GPU"`` or ``"CPU"``.

    Parameters
    ----------
    device : {"auto", "gpu", "cpu"}
    allow_cpu_fallback : bool
        With ``device="gpu"`` and no visible GPU, train on the CPU (with a warning) instead of
        failing.

    Raises
    ------
    RuntimeError
        ``device="gpu"``, no GPU visible and no fallback allowed; the message says why TensorFlow
        may not see one (CPU-only build, ``CUDA_VISIBLE_DEVICES``) and what to change.
    """
    import tensorflow as tf

    if device not in DEVICES:
        raise ValueError(f"training.device={device!r}; expected one of {', '.join(DEVICES)}")
    gpus = tf.config.list_physical_devices("GPU")
    if device == "cpu":
        if gpus:
            try:
                tf.config.set_visible_devices([], "GPU")
            except RuntimeError:  # devices already initialised in this process
                log.warning("GPUs already initialised; training.device 'cpu' cannot hide them")
                return "GPU"
        return "CPU"
    if gpus:
        return "GPU"
    if device == "gpu":
        message = (
            "training.device is 'gpu' (the job requested a GPU) but TensorFlow sees none: "
            f"TensorFlow {tf.__version__} is {'a CUDA' if cuda_build() else 'a CPU-only'} build, "
            f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')!s}. "
            "Install the CUDA build (pip install -e '.[gpu]' or envs/training.yaml), run on a "
            "node with a GPU, or set training.allow_cpu_fallback: true to train on the CPU")
        if not allow_cpu_fallback:
            raise RuntimeError(message)
        log.warning("%s; falling back to the CPU (allow_cpu_fallback)", message)
    return "CPU"


def runtime_info(device: str, precision: str, jit_compile: bool) -> dict:
    """What a training job ran on, for ``metrics.json`` and the log.

    Returns
    -------
    dict
        ``device`` ("GPU"/"CPU"), ``physical_devices`` (``tf.config.list_physical_devices``
        names), ``cuda_build``, ``tensorflow`` version, ``precision``, ``jit_compile``,
        ``deterministic_ops`` (TensorFlow's op determinism: bit-identical reruns).
    """
    import tensorflow as tf
    from tensorflow.python.framework.config import is_op_determinism_enabled

    visible = {d.name for d in tf.config.get_visible_devices()}
    info = {"device": device,
            "physical_devices": [d.name for d in tf.config.list_physical_devices()
                                 if d.name in visible],
            "cuda_build": cuda_build(), "tensorflow": tf.__version__,
            "precision": precision, "jit_compile": bool(jit_compile),
            "deterministic_ops": bool(is_op_determinism_enabled())}
    log.info("training on %s: devices %s, TensorFlow %s (CUDA build: %s), precision %s, "
             "XLA jit_compile %s, deterministic ops %s", device, info["physical_devices"],
             info["tensorflow"], info["cuda_build"], precision, info["jit_compile"],
             info["deterministic_ops"])
    return info


@contextlib.contextmanager
def precision_policy(precision: str):
    """Set the Keras global dtype policy for the models built inside; restore it after."""
    import keras

    if precision not in PRECISIONS:
        raise ValueError(f"training.precision={precision!r}; expected one of "
                         f"{', '.join(PRECISIONS)}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
