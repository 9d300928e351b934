"""Train one network (task, architecture, seed) on ``dataset.zarr``, or save an untrained control.

Two schedules (``training.schedule``, :data:`SCHEDULES`):

``ours``
    Adam at ``learning_rate`` in batches of ``batch_size``; inputs standardised per muscle and
    channel (and decoding targets per output) with training-set statistics; the learning rate
    divided by 1 / ``plateau_factor`` after ``plateau_patience`` epochs without validation
    improvement (``ReduceLROnPlateau``); early stopping after ``patience`` such epochs.
``study``
    what the study trained with: ``max_epochs`` epochs (the study: 50) at the constant learning
    rate and batch size the study used for the family (5e-4 and 256 for convolutional
    networks, 1e-3 and 128 for LSTMs), raw inputs (no normalisation), no early stopping. The
    study's code did carry a plateau rule (divide the learning rate by 4 and return to the best
    checkpoint), but its counter counts validations (one every 100 training steps) and is
    compared with a number of training steps (``early_stopping_epochs * steps_per_epoch``):
    50 epochs hold ``50 * steps_per_epoch / 100`` validations, fewer than the
    ``5 * steps_per_epoch`` needed, so the rule never fired and the learning rate stayed
    constant. The validation split is the dataset's (``split.validation_fraction`` of the
    non-test samples at random; the study: the last 10% of its shuffled training file).

Both keep the weights of the epoch with the lowest validation loss (``ModelCheckpoint``,
``save_best_only``). ``BackupAndRestore`` checkpoints weights and optimiser every epoch and the
state of the other callbacks is saved beside it, so a killed job continues from its last
finished epoch. Settings missing from the ``settings`` dictionary take the ``default`` of
``schemas/config.schema.yaml`` (:func:`resolve_settings`).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from deepdraw.io import atomic_path
from deepdraw.training.callbacks import (_jsonable, make_clock, make_epoch_setter,
                                         make_lr_recorder, make_state_keeper)
from deepdraw.training.data import ZarrBatches
from deepdraw.training.device import (configure_tensorflow, precision_policy, runtime_info,
                                      select_device)

log = logging.getLogger(__name__)

# keys of the training section that describe the sweep, not one job's optimisation
_SWEEP_KEYS = ("architectures", "tasks", "seeds", "untrained_seeds")


def settings_schema() -> dict:
    """JSON schema of one training job's settings: the config's ``training`` section without
    the sweep lists (``architectures``, ``tasks``, seeds), with its defaults."""
    from deepdraw.config import load_schema, workflow_root

    schema = load_schema(workflow_root())
    section = dict(schema["properties"]["training"])
    section["properties"] = {k: v for k, v in section["properties"].items()
                             if k not in _SWEEP_KEYS}
    section["required"] = [k for k in section.get("required", []) if k not in _SWEEP_KEYS]
    return {**section, "$defs": schema.get("$defs", {})}


def resolve_settings(settings: dict) -> dict:
    """``settings`` with every missing key set to its schema default, validated.

    Raises
    ------
    deepdraw.config.ConfigError
        A value outside the schema (the message names the key), or an unknown key.
    """
    from deepdraw.config import validate

    sweep = {k: v for k, v in settings.items() if k in _SWEEP_KEYS}
    job = {k: v for k, v in settings.items() if k not in _SWEEP_KEYS}
    return {**validate(job, settings_schema(), source="training settings"), **sweep}


def _ours(opts: dict, monitor: str, keras) -> dict:
    return {
        "early_stopping": keras.callbacks.EarlyStopping(monitor=monitor,
                                                        patience=opts["patience"]),
        "plateau": keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, factor=opts["plateau_factor"], patience=opts["plateau_patience"],
            min_lr=opts["min_learning_rate"], verbose=1),
    }


def _study(opts: dict, monitor: str, keras) -> dict:
    # constant learning rate for max_epochs; only the best-validation checkpoint (added for
    # every schedule) shapes the result
    return {}


@dataclass(frozen=True)
class Schedule:
    """A training schedule.

    Attributes
    ----------
    callbacks : callable ``(opts, monitor, keras) -> dict``
        Its stateful Keras callbacks by name (their counters are saved for resumed runs).
    standardise : bool
        Inputs (and decoding targets) standardised with training-set statistics.
    study_rates : bool
        The family's study learning rate and batch size replace the configured ones.
    """

    callbacks: Callable[[dict, str, Any], dict]
    standardise: bool
    study_rates: bool


#: Schedules by name (``training.schedule``).
SCHEDULES = {"ours": Schedule(_ours, standardise=True, study_rates=False),
             "study": Schedule(_study, standardise=False, study_rates=True)}


def job_options(settings: dict, arch: dict) -> dict:
    """Resolved settings of one job: schema defaults filled in, then the schedule's overrides.

    Under ``schedule: study`` the learning rate and batch size are the study's for the
    architecture's family (:class:`deepdraw.models.Family`).
    """
    from deepdraw.models import FAMILIES

    opts = resolve_settings(settings)
    schedule = opts["schedule"]
    if SCHEDULES[schedule].study_rates:
        family = FAMILIES[arch["family"]]
        opts = {**opts, "learning_rate": family.study_learning_rate,
                "batch_size": family.study_batch_size}
    return opts


def evaluate(model, source: ZarrBatches, n_classes: int) -> dict:
    """Metrics of ``model`` on one split: the task's scores (:class:`deepdraw.models.Task`).

    Returns
    -------
    dict
        ``n`` and e.g. recognition: ``accuracy``, ``loss``, ``confusion`` (n_classes x
        n_classes, rows = true); decoding: ``position_error_cm`` (mean Euclidean error),
        ``position_rmse_cm`` [, ``velocity_error_cm_s``]. NaN scores for an empty split.
    """
    spec = source.spec
    if source.n_samples == 0:
        # tiny stores may have an empty split: report it rather than fail
        return {"n": 0, **dict.fromkeys(spec.score_names, float("nan"))}
    truths, preds = [], []
    for x, y in source:
        preds.append(model.predict_on_batch(x))
        truths.append(y)
    y, p = np.concatenate(truths), np.concatenate(preds)
    return {"n": int(len(y)), **spec.score(y, p, n_classes)}


def _sources(dataset, task, opts, seed, threads=None, cache=True):
    """The train/validation/test sources of a job with resolved options ``opts``.

    The train and validation inputs (read every epoch) are cached in memory when allowed and
    within ``cache_max_mb`` together; the test split is read once, from zarr.
    """
    readers = max(2, int(threads or 1))
    mode = opts["cache_inputs"] if cache else "false"
    budget = float(opts["cache_max_mb"])
    common = {"readers": readers, "cache": mode}
    train = ZarrBatches(dataset, "train", task, opts["batch_size"], shuffle=True, seed=seed,
                        shuffle_chunks=opts["shuffle_chunks"], cache_max_mb=budget,
                        max_samples=opts["train_samples"], **common)
    if train.cached:
        budget -= train.cache_mb()
    val = ZarrBatches(dataset, "validation", task, opts["batch_size"], cache_max_mb=budget,
                      max_samples=opts["validation_samples"], **common)
    test = ZarrBatches(dataset, "test", task, opts["batch_size"], readers=readers)
    return train, val, test


def _build(arch, task, train: ZarrBatches, opts: dict, seed: int):
    from deepdraw.models import build_model, compile_model

    standardise = SCHEDULES[opts["schedule"]].standardise
    stats = train.statistics() if standardise else {}
    target_std = stats.get("target_std") if train.spec.standardise_targets else None
    target_mean = stats.get("target_mean") if train.spec.standardise_targets else None
    arch = {"dropout": opts["dropout"], **arch}
    # layers take the precision policy current when they are built
    with precision_policy(opts["precision"]):
        model = build_model(arch, task, n_classes=train.n_classes, input_shape=train.input_shape,
                            input_mean=stats.get("input_mean"), input_std=stats.get("input_std"),
                            target_mean=target_mean, target_std=target_std, seed=seed)
    return compile_model(model, task, opts["learning_rate"], target_std,
                         jit_compile=bool(opts["jit_compile"])), stats


def _start(seed: int, threads, opts: dict, device: str | None) -> dict:
    """Seed TensorFlow, choose the device and return the record of what the job runs on."""
    jit = bool(opts["jit_compile"])
    if jit:
        log.warning("jit_compile: XLA cannot run with TensorFlow's deterministic ops, which stay"
                    " off; reruns and resumed runs may differ in the last bits")
    configure_tensorflow(seed, threads, deterministic=not jit)
    used = select_device(device or opts["device"], bool(opts["allow_cpu_fallback"]))
    return runtime_info(used, opts["precision"], jit)


def _describe(arch, task, seed, model, trained: bool, dataset) -> dict:
    from deepdraw.models import n_layers
    from deepdraw.provenance import dataset_record

    return {"task": task, "name": arch.get("name", arch["family"]), "family": arch["family"],
            "architecture": arch, "seed": int(seed), "trained": trained,
            "n_layers": n_layers(arch), "n_parameters": int(model.count_params()),
            "dataset": dataset_record(dataset)}


def checkpoint_problem(ckpt: Path) -> str | None:
    """Why the resumable state in ``ckpt`` cannot be resumed from, or None if it can.

    A job killed while Keras wrote a backup, while the clean-up removed the folder, or with
    files lost leaves a state that would fail the same way on every rerun; the caller then
    trains from scratch. Every file is checked for being complete and readable, and the
    files that must come together (an epoch's backup needs its metadata, the best weights and
    the callback state; a finished run needs its best weights, state and history) are present.
    """
    import h5py
    import pandas as pd

    def unreadable_h5(path: Path) -> str | None:
        try:
            with h5py.File(path, "r") as handle:
                # reading every dataset finds a file truncated by a kill
                handle.visititems(lambda name, obj: obj[()] if isinstance(obj, h5py.Dataset)
                                  else None)
        except Exception as exc:  # h5py raises OSError, KeyError, RuntimeError on bad bytes
            return f"{path.name} unreadable ({type(exc).__name__}: {exc})"
        return None

    backup = ckpt / "backup"
    weights, metadata = backup / "latest.weights.h5", backup / "training_metadata.json"
    needed = []
    if weights.exists() or metadata.exists():
        needed += [weights, metadata, ckpt / "best.weights.h5", ckpt / "state.json"]
    if (ckpt / "finished").exists():
        needed += [ckpt / "best.weights.h5", ckpt / "state.json", ckpt / "history.csv"]
    for path in dict.fromkeys(needed):
        if not path.is_file():
            return f"{path.relative_to(ckpt)} is missing"
    for path in (weights, ckpt / "best.weights.h5"):
        if path.exists() and (problem := unreadable_h5(path)):
            return problem
    for path in (metadata, ckpt / "state.json"):
        if path.exists():
            try:
                json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                return f"{path.relative_to(ckpt)} unreadable ({exc})"
    if (ckpt / "history.csv").exists():
        try:
            pd.read_csv(ckpt / "history.csv")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            return f"history.csv unreadable ({exc})"
    return None


def train(dataset, task: str, arch: dict, settings: dict, seed: int, output_dir,
          threads: int | None = None, extra_callbacks=(), device: str | None = None) -> dict:
    """Train one model and write ``model.keras``, ``history.csv``, ``metrics.json``, ``tensorboard/``.

    Parameters
    ----------
    dataset : path
        ``dataset.zarr``.
    task : str
        A registered task (:data:`deepdraw.models.TASKS`).
    arch : dict
        Architecture (:mod:`deepdraw.models`).
    settings : dict
        The config's ``training`` section (``schedule``, ``batch_size``, ``learning_rate``,
        ``max_epochs``, ``patience``, ..., ``train_samples`` and ``validation_samples``: nested
        subsets of those splits); missing keys take the schema's defaults (:func:`job_options`).
    seed : int
        Seed of initialisation, dropout and data order.
    output_dir : path
        Outputs; ``checkpoint/`` inside it holds the resumable state until the run completes.
    threads : int, optional
        TensorFlow thread pool size.
    extra_callbacks : sequence of keras callbacks
        Appended to the training callbacks (tests use one to interrupt a run).
    device : {"auto", "gpu", "cpu"}, optional
        Overrides ``settings["device"]``: the workflow passes ``gpu`` for jobs that hold a GPU.

    Returns
    -------
    dict
        The metrics written to ``metrics.json``; ``runtime`` records the device, the
        TensorFlow build, the precision and ``jit_compile``.
    """
    import keras
    import pandas as pd

    opts = job_options(settings, arch)
    runtime = _start(seed, threads, opts, device)
    out = Path(output_dir)
    ckpt = out / "checkpoint"
    removing = out / ".checkpoint.removing"
    if removing.exists():  # a kill during the last clean-up
        shutil.rmtree(removing)
    problem = checkpoint_problem(ckpt) if ckpt.exists() else None
    if problem:
        # the same state would fail the same way on every rerun
        log.warning("%s cannot be resumed from (%s): training from scratch", ckpt, problem)
        shutil.rmtree(ckpt)
    ckpt.mkdir(parents=True, exist_ok=True)
    train_src, val_src, test_src = _sources(dataset, task, opts, seed, threads)
    model, _ = _build(arch, task, train_src, opts, seed)
    # Keras falls back to no XLA for layers or settings that do not support it: record the fact
    runtime["jit_compile"] = bool(model.jit_compile)
    log.info("%s: %d parameters, %d/%d/%d train/validation/test samples", model.name,
             model.count_params(), train_src.n_samples, val_src.n_samples, test_src.n_samples)

    # without validation samples (tiny test stores) the schedule follows the training loss
    monitor = "val_loss" if val_src.n_samples else "loss"
    if not val_src.n_samples:
        log.warning("no validation samples: the schedule and checkpoint use the training loss")
    log.info("schedule %s: learning rate %g, batch size %d, %s inputs", opts["schedule"],
             opts["learning_rate"], opts["batch_size"],
             "standardised" if SCHEDULES[opts["schedule"]].standardise else "raw")
    callbacks = {
        **SCHEDULES[opts["schedule"]].callbacks(opts, monitor, keras),
        "checkpoint": keras.callbacks.ModelCheckpoint(
            str(ckpt / "best.weights.h5"), monitor=monitor, save_best_only=True,
            save_weights_only=True),
        "clock": make_clock(),
    }
    finished = ckpt / "finished"
    # events go beside the checkpoint, which survives a kill (Snakemake deletes the outputs of
    # an interrupted job, tensorboard/ among them, before it reruns it); copied out at the end
    tensorboard = ckpt / "tensorboard"
    callback_list = [
        make_epoch_setter(seed, train_src),
        *callbacks.values(),
        make_lr_recorder(),
        keras.callbacks.CSVLogger(str(ckpt / "history.csv"), append=True),
        keras.callbacks.TensorBoard(str(tensorboard), write_graph=False),
        # saves the counters above once they are updated for the epoch
        make_state_keeper(ckpt / "state.json", callbacks, finished),
        *extra_callbacks,
        # last: an epoch counts as done once everything above has recorded it
        keras.callbacks.BackupAndRestore(str(ckpt / "backup"), delete_checkpoint=False),
    ]
    if finished.exists():
        # killed after training ended but before the outputs were written: nothing to redo
        log.info("training already finished; writing its outputs")
    else:
        model.fit(train_src.dataset(),
                  validation_data=val_src.dataset() if val_src.n_samples else None,
                  epochs=opts["max_epochs"], callbacks=callback_list, verbose=2,
                  shuffle=False)  # shuffled by ZarrBatches, per epoch
    model.load_weights(ckpt / "best.weights.h5")
    saved = json.loads((ckpt / "state.json").read_text())
    state = saved[max(saved, key=int)]

    metrics = _describe(arch, task, seed, model, trained=True, dataset=dataset)
    history = pd.read_csv(ckpt / "history.csv")
    # a resumed run may repeat the epoch it was killed in: keep the last record of each
    history = history.drop_duplicates("epoch", keep="last").reset_index(drop=True)
    metrics.update({"epochs": int(len(history)),
                    "best_epoch": int(history[monitor].idxmin()) + 1,
                    "settings": opts, "runtime": runtime})
    for split, source in (("train", train_src.unshuffled()),
                          ("validation", val_src), ("test", test_src)):
        metrics[split] = evaluate(model, source, train_src.n_classes)
    _write_outputs(model, metrics, out, history)
    with atomic_path(out / "tensorboard") as tmp:
        if tensorboard.exists():
            shutil.copytree(tensorboard, tmp)
        else:
            tmp.mkdir()
    # wall-clock time differs between runs: kept apart from the reproducible outputs
    with atomic_path(out / "timing.json") as tmp:
        tmp.write_text(json.dumps({"training_time_s": float(state["clock"]["elapsed"])}))
    # renamed first, so that a kill during the removal leaves no half-deleted checkpoint
    ckpt.rename(removing)
    shutil.rmtree(removing)
    return metrics


def save_model(model, path: str | Path) -> None:
    """Save ``model`` as a ``.keras`` archive whose bytes depend only on the model.

    Keras writes the save date, zip timestamps and Python object ids (``shared_object_id``,
    memory addresses) into the archive; the date is dropped, timestamps fixed and the ids
    numbered in order of appearance, which loads to the same model.
    """
    with atomic_path(path) as tmp:
        raw = tmp.with_name(tmp.name + ".raw.keras")
        try:
            model.save(raw)
            _canonical_archive(raw, tmp)
        finally:
            raw.unlink(missing_ok=True)


def _canonical_archive(source_path: Path, target_path: Path) -> None:
    ids: dict[bytes, bytes] = {}

    def renumber(match: re.Match) -> bytes:
        number = ids.setdefault(match.group(1), str(len(ids)).encode())
        return b'"shared_object_id": ' + number

    with zipfile.ZipFile(source_path) as source, zipfile.ZipFile(target_path, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "config.json":
                data = re.sub(rb'"shared_object_id": (\d+)', renumber, data)
            elif info.filename == "metadata.json":
                metadata = json.loads(data)
                metadata.pop("date_saved", None)
                data = json.dumps(metadata).encode()
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = info.compress_type
            target.writestr(entry, data)


def _write_outputs(model, metrics: dict, out: Path, history=None) -> None:
    save_model(model, out / "model.keras")
    if history is not None:
        with atomic_path(out / "history.csv") as tmp:
            history.to_csv(tmp, index=False)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, default=_jsonable))
    log.info("%s: test %s", out, {k: v for k, v in metrics["test"].items() if k != "confusion"})


def untrained(dataset, task: str, arch: dict, settings: dict, seed: int, output_dir,
              threads: int | None = None, device: str | None = None) -> dict:
    """Save an untrained control: same architecture and input statistics, random weights.

    Writes ``model.keras`` and ``metrics.json`` (test performance at initialisation).
    """
    opts = job_options(settings, arch)
    runtime = _start(seed, threads, opts, device)
    train_src, _, test_src = _sources(dataset, task, opts, seed, threads, cache=False)
    model, _ = _build(arch, task, train_src, opts, seed)
    metrics = _describe(arch, task, seed, model, trained=False, dataset=dataset)
    metrics["runtime"] = runtime
    metrics["test"] = evaluate(model, test_src, train_src.n_classes)
    _write_outputs(model, metrics, Path(output_dir))
    return metrics
