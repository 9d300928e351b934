import hashlib
from pathlib import Path
import json

from snakemake.utils import validate

from deepdraw.augmentation import describe_latents
from deepdraw.config import check_inputs, expand_sweep
from deepdraw.contract import INSTANCE_WILDCARD, PLANE_WILDCARD, instance_name

# defaults of schemas/config.schema.yaml filled in, the architecture sweep drawn, and every
# declared input file checked before any job is planned
validate(config, schema="../schemas/config.schema.yaml")
config.update(expand_sweep(config))
check_inputs(config, ".")

RUN = f"results/{config['run']}"
PLANES = config["generation"]["planes"]
SHARDS = list(range(config["generation"]["shards_per_plane"]))


wildcard_constraints:
    plane=PLANE_WILDCARD,
    shard=r"\d+",


def settings(section, keys):
    """The ``keys`` of a config section as JSON, for a rule's params.

    Snakemake reruns a job when its params change: each rule gets only the keys its command
    reads (the lists below), so that changing any other key reruns nothing of it.
    """
    return json.dumps({key: config[section][key] for key in keys}, sort_keys=True)


# the config keys each command reads, per section
SHARD_KEYS = (
    "samples_per_shard",
    "noise",
    "window_steps",
    "max_attempts",
    "max_tracing_error_cm",
    "max_joint_jerk",
)
POSTURE_KEYS = (
    "planes",
    "window_steps",
    "max_attempts",
    "max_tracing_error_cm",
    "max_joint_jerk",
)
ACTIVATION_KEYS = ("n_test_samples", "batch_size")
TUNING_KEYS = (
    "mode",
    "margin_steps",
    "headline_plane",
    "encoding_models",
    "input_layer",
    "train_fraction",
    "max_rows",
    "min_speed",
    "exclude_below",
    "r2_threshold",
    "statsmodels_units",
    "ci_level",
    "label_max_rows",
    "label_svm_c",
)
DECODING_KEYS = (
    "mode",
    "margin_steps",
    "headline_plane",
    "input_layer",
    "train_fraction",
    "max_rows",
    "min_speed",
    "decoding_alphas",
    "decoding_max_rows",
)
TSNE_KEYS = (
    "mode",
    "headline_plane",
    "input_layer",
    "tsne_samples",
    "tsne_pca",
    "tsne_perplexity",
)
INVARIANCE_KEYS = (
    "input_layer",
    "min_speed",
    "max_rows",
    "train_fraction",
    "r2_threshold",
    "invariance",
)
SUMMARY_KEYS = ("r2_threshold", "direction_bins")
REPORT_KEYS = ("n_test_samples", "r2_threshold", "train_fraction", "direction_bins")
# training options of a trained model (the sweep lists and threads are wildcards/resources)
TRAIN_KEYS = (
    "schedule",
    "train_samples",
    "validation_samples",
    "batch_size",
    "learning_rate",
    "max_epochs",
    "patience",
    "plateau_patience",
    "plateau_factor",
    "min_learning_rate",
    "dropout",
    "shuffle_chunks",
    "precision",
    "jit_compile",
    "device",
    "allow_cpu_fallback",
    "cache_inputs",
    "cache_max_mb",
)
SVM_KEYS = (
    "representations",
    "max_train_per_class",
    "max_test_per_class",
    "C",
    "max_iter",
)
# an untrained control is built and evaluated, never optimised
UNTRAINED_KEYS = (
    "schedule",
    "batch_size",
    "dropout",
    "precision",
    "jit_compile",
    "device",
    "allow_cpu_fallback",
)
# the muscle settings that shape the dataset (the others serve the optional muscle rules, whose
# surrogate reaches the shards as an input file)
DATASET_MUSCLE_KEYS = ("backend", "model", "surrogate", "original_model", "edits")


def dataset_settings():
    """The resolved settings that determine the dataset (not training or analysis, which must
    not rebuild it when they change)."""
    return {
        "seed": config["seed"],
        "characters": config["characters"],
        "split": config["split"],
        "generation": config["generation"],
        "muscles": {key: config["muscles"][key] for key in DATASET_MUSCLE_KEYS},
    }


def config_hash():
    """Hash of the settings that determine the dataset, recorded in its provenance."""
    text = json.dumps(dataset_settings(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def dataset_config():
    """The resolved settings that determine the dataset, as JSON, stored in its attributes."""
    return json.dumps(dataset_settings(), sort_keys=True)


def shard_mem_mb():
    """Memory of one generate_shard job: measured peak 400 MB for 500 samples, 690 MB for 2000
    and 1000 MB for 4000 (~0.17 MB per sample over ~0.32 GB), with a 1.5x margin."""
    return 500 + int(0.25 * config["generation"]["samples_per_shard"])


def muscle_model():
    """The OpenSim model of the run: derived by rule derive_muscle_model, or the original."""
    if config["muscles"]["model"] == "corrected":
        return f"{RUN}/muscles/model_corrected.osim"
    return config["muscles"]["original_model"]


def surrogate_file():
    """The surrogate of the run's model (refitted, or shipped for it); none for backend opensim."""
    muscles = config["muscles"]
    if muscles["backend"] == "opensim":
        return []
    if muscles["surrogate"] == "fit":
        return f"{RUN}/muscles/surrogate.npz"
    # checked by check_inputs above
    return f"resources/muscle_surrogate_{muscles['model']}.npz"


def all_targets():
    return [
        f"{RUN}/config.yaml",
        f"{RUN}/dataset.zarr",
        *dataset_bias_targets(),
        *data_figure_targets(),
        *training_targets(),
        *analysis_targets(),
    ]


# Data figures (rules/datafigures.smk): samples per plane, distributions, animation.
DATA_FIGURES = f"{RUN}/figures/dataset"


def data_figure_targets():
    return [
        *expand(f"{DATA_FIGURES}/samples_{{plane}}.png", plane=PLANES),
        f"{DATA_FIGURES}/distributions.png",
        f"{DATA_FIGURES}/drawing.gif",
    ]


def dataset_bias_targets():
    """The rejection-bias report of the dataset (rules/dataset.smk, dataset_bias)."""
    return [
        f"{RUN}/dataset/bias.json",
        f"{RUN}/dataset/bias_start_points.csv",
        f"{RUN}/dataset/bias_tests.csv",
        f"{RUN}/dataset/bias.png",
    ]


# Analysis (rules/analysis.smk): models covered and the report target.
ANALYSIS = f"{RUN}/analysis"
SUMMARIES = [
    "fractions",
    "comparison",
    "directions",
    "direction_comparison",
    "invariance",
    "tasks",
]


def analysis_models():
    """(task, arch, instance) of every model the analysis covers (training x analysis.tasks)."""
    training = config["training"]
    tasks = [t for t in training["tasks"] if t in config["analysis"]["tasks"]]
    return [
        (task, arch["name"], instance)
        for task in tasks
        for arch in training["architectures"]
        for instance in model_instances(arch)
    ]


def analysis_files(pattern):
    return [pattern.format(task=t, arch=a, instance=i) for t, a, i in analysis_models()]


def analysis_targets():
    """The analysis report, when the config trains models for the analysed tasks."""
    if not analysis_models():
        return []
    return [f"{ANALYSIS}/report.html", *population_targets()]


def population_targets():
    """Decoding table and t-SNE figures of every analysed model, cross-task CKA."""
    if not analysis_models():
        return []
    return [
        f"{ANALYSIS}/summary/decoding.csv",
        f"{ANALYSIS}/similarity/cka_tasks.csv",
        *analysis_files(f"{ANALYSIS}/figures/tsne/{{task}}/{{arch}}/{{instance}}.png"),
    ]


def cross_task_activations():
    """Activations of the trained models of the trained tasks not analysed (for cross-task CKA)."""
    if not config["analysis"]["cross_task_cka"]:
        return []
    training = config["training"]
    return [
        f"{ANALYSIS}/activations/{task}/{arch['name']}/{instance_name(seed)}.zarr"
        for task in training["tasks"]
        if task not in config["analysis"]["tasks"]
        for arch in training["architectures"]
        for seed in training_seeds("seeds")
    ]


# Training (rules/training.smk): models of the sweep and the summary targets.
MODELS = f"{RUN}/models"


# keys of an architecture entry that choose its instances, not its network
INSTANCE_KEYS = ("seeds", "untrained_seeds")


def training_seeds(key, arch=None):
    """Seeds ``seeds`` / ``untrained_seeds`` of an architecture (its own, else the training
    section's): a list, or a count n (0..n-1)."""
    value = (arch or {}).get(key, config["training"][key])
    return list(range(value)) if isinstance(value, int) else list(value)


def model_instances(arch=None):
    """Folder names of the trained models (seed<N>) and untrained controls (untrained<N>)."""
    return [instance_name(s) for s in training_seeds("seeds", arch)] + [
        instance_name(s, trained=False) for s in training_seeds("untrained_seeds", arch)
    ]


def architecture(name):
    """One architecture of the config, as JSON for the command line."""
    for arch in config["training"]["architectures"]:
        if arch["name"] == name:
            network = {k: v for k, v in arch.items() if k not in INSTANCE_KEYS}
            return json.dumps(network, sort_keys=True)
    raise ValueError(f"architecture {name!r} is not in config training.architectures")


def training_threads():
    return config["training"]["threads"]


# Job resources live in the rules (memory, runtime, threads) and in these helpers, computed from
# the config; the profiles add only where jobs run (SLURM partition, account, GPU gres, groups).
def training_mem_mb():
    """Memory (MiB) of a train_model job: ~4 GB for TensorFlow, the model and two streamed
    windows of zarr chunks, plus the input cache bound (training.cache_max_mb) when caching is on.
    """
    training = config["training"]
    caching = str(training["cache_inputs"]).lower() != "false"
    return 4000 + (int(training["cache_max_mb"]) if caching else 0)


def training_device(wildcards, resources):
    """--device of a training job: ``gpu`` when the job holds a GPU (``gres`` set by
    profiles/slurm), so that it fails rather than train on the CPU of a GPU node; otherwise
    the config's training.device."""
    device = config["training"]["device"]
    if device == "auto" and "gpu" in str(getattr(resources, "gres", None) or ""):
        return "gpu"
    return device


def model_metrics():
    """metrics.json of every trained model and untrained control of the sweep."""
    training = config["training"]
    return [
        f"{MODELS}/{task}/{arch['name']}/{instance}/metrics.json"
        for task in training["tasks"]
        for arch in training["architectures"]
        for instance in model_instances(arch)
    ]


def model_histories():
    """history.csv of every trained model of the sweep (learning curves in the report)."""
    training = config["training"]
    return [
        f"{MODELS}/{task}/{arch['name']}/{instance_name(seed)}/history.csv"
        for task in training["tasks"]
        for arch in training["architectures"]
        for seed in training_seeds("seeds", arch)
    ]


def svm_summary():
    """The SVM baseline's summary table."""
    return [f"{RUN}/svm/summary.csv"]


def training_targets():
    """Model summary (table, figure) and SVM baseline."""
    return [
        f"{MODELS}/summary.csv",
        f"{MODELS}/summary.png",
        f"{RUN}/svm/summary.csv",
        f"{RUN}/svm/svm.png",
    ]
