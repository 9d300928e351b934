import hashlib
from pathlib import Path
import json

from snakemake.utils import validate

from deepdraw.augmentation import describe_latents
from deepdraw.contract import INSTANCE_WILDCARD, PLANE_WILDCARD, instance_name

validate(config, schema="../schemas/config.schema.yaml")

RUN = f"results/{config['run']}"
PLANES = config["generation"]["planes"]
SHARDS = list(range(config["generation"]["shards_per_plane"]))


wildcard_constraints:
    plane=PLANE_WILDCARD,
    shard=r"\d+",


def settings(section):
    """A config section as JSON, for a rule's params (reruns the job when it changes)."""
    return json.dumps(config[section], sort_keys=True)


# the config sections that determine the dataset (not training or analysis, which must not
# rebuild it when they change)
DATASET_SECTIONS = ("seed", "characters", "split", "generation", "muscles")


def config_hash():
    """Hash of the settings that determine the dataset, recorded in its provenance."""
    text = json.dumps({k: config[k] for k in DATASET_SECTIONS}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def dataset_config():
    """The resolved settings that determine the dataset, as JSON, stored in its attributes."""
    return json.dumps({k: config[k] for k in DATASET_SECTIONS}, sort_keys=True)


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
    shipped = f"resources/muscle_surrogate_{muscles['model']}.npz"
    if not Path(shipped).exists():
        raise ValueError(
            f"config muscles: no surrogate is shipped for model {muscles['model']!r} "
            f"({shipped}); use muscles.backend: opensim (exact, slow) or "
            "muscles.surrogate: fit (build one with rule fit_muscle_surrogate)"
        )
    return shipped


def all_targets():
    # training and analysis targets (below) are empty when the config has no such sections
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
    if "training" not in config or "analysis" not in config:
        return []
    training = config["training"]
    tasks = [t for t in training["tasks"] if t in config["analysis"]["tasks"]]
    return [
        (task, arch["name"], instance)
        for task in tasks
        for arch in training["architectures"]
        for instance in model_instances()
    ]


def analysis_files(pattern):
    return [pattern.format(task=t, arch=a, instance=i) for t, a, i in analysis_models()]


def analysis_targets():
    """The analysis report, when the config trains models for the analysed tasks."""
    if not analysis_models():
        return []
    return [f"{ANALYSIS}/report.html"]


# Training (rules/training.smk): models of the sweep and the summary targets.
MODELS = f"{RUN}/models"


def training_seeds(key):
    """Seeds of the training section's ``seeds`` / ``untrained_seeds``: a list, or a count n (0..n-1)."""
    value = config["training"][key]
    return list(range(value)) if isinstance(value, int) else list(value)


def model_instances():
    """Folder names of the trained models (seed<N>) and untrained controls (untrained<N>)."""
    return [instance_name(s) for s in training_seeds("seeds")] + [
        instance_name(s, trained=False) for s in training_seeds("untrained_seeds")
    ]


def architecture(name):
    """One architecture of the config, as JSON for the command line."""
    for arch in config["training"]["architectures"]:
        if arch["name"] == name:
            return json.dumps(arch, sort_keys=True)
    raise ValueError(f"architecture {name!r} is not in config training.architectures")


def training_settings():
    """The optimisation settings of the training section (not the sweep lists), as JSON."""
    skip = ("architectures", "tasks", "seeds", "untrained_seeds", "threads")
    training = config.get("training", {})
    return json.dumps(
        {k: v for k, v in training.items() if k not in skip}, sort_keys=True
    )


def training_threads():
    return config.get("training", {}).get("threads", 1)


# Job resources live in the rules (memory, runtime, threads) and in these helpers, computed from
# the config; the profiles add only where jobs run (SLURM partition, account, GPU gres, groups).
def training_mem_mb():
    """Memory (MiB) of a train_model job: ~4 GB for TensorFlow, the model and two streamed
    windows of zarr chunks, plus the input cache bound (training.cache_max_mb) when caching is on.
    """
    training = config.get("training", {})
    caching = str(training.get("cache_inputs", "auto")).lower() != "false"
    return 4000 + (int(training.get("cache_max_mb", 4000)) if caching else 0)


def training_device(wildcards, resources):
    """--device of a training job: ``gpu`` when the job holds a GPU (``gres`` set by
    profiles/slurm), so that it fails rather than train on the CPU of a GPU node; otherwise
    the config's training.device."""
    device = config["training"].get("device", "auto")
    if device == "auto" and "gpu" in str(getattr(resources, "gres", None) or ""):
        return "gpu"
    return device


def model_metrics():
    """metrics.json of every trained model and untrained control of the sweep."""
    training = config.get("training")
    if not training:
        return []
    return [
        f"{MODELS}/{task}/{arch['name']}/{instance}/metrics.json"
        for task in training["tasks"]
        for arch in training["architectures"]
        for instance in model_instances()
    ]


def model_histories():
    """history.csv of every trained model of the sweep (learning curves in the report)."""
    training = config.get("training")
    if not training:
        return []
    return [
        f"{MODELS}/{task}/{arch['name']}/{instance_name(seed)}/history.csv"
        for task in training["tasks"]
        for arch in training["architectures"]
        for seed in training_seeds("seeds")
    ]


def svm_summary():
    """The SVM baseline's summary table, or nothing when the config has no svm section."""
    return [f"{RUN}/svm/summary.csv"] if "svm" in config else []


def training_targets():
    """Model summary (table, figure) and SVM baseline, for the sections present in config."""
    targets = []
    if "training" in config:
        targets += [f"{MODELS}/summary.csv", f"{MODELS}/summary.png"]
    if "svm" in config:
        targets += [f"{RUN}/svm/summary.csv", f"{RUN}/svm/svm.png"]
    return targets
