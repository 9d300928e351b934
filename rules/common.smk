import hashlib
import json

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

RUN = f"results/{config['run']}"
PLANES = config["generation"]["planes"]
SHARDS = list(range(config["generation"]["shards_per_plane"]))


wildcard_constraints:
    plane="horizontal|vertical",
    shard=r"\d+",


def settings(section):
    """A config section as JSON, for a rule's params (reruns the job when it changes)."""
    return json.dumps(config[section], sort_keys=True)


def config_hash():
    """Hash of the settings that determine the dataset, recorded in its provenance."""
    keys = ("seed", "characters", "split", "generation", "muscles")
    text = json.dumps({k: config[k] for k in keys}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def surrogate_file():
    if config["muscles"]["surrogate"] == "fit":
        return f"{RUN}/muscles/surrogate.npz"
    return "resources/muscle_surrogate.npz"


def all_targets():
    return [f"{RUN}/dataset.zarr"]
