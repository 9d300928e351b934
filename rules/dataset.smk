rule dataset:
    input:
        shards=expand(
            f"{RUN}/shards/{{plane}}/{{shard}}.zarr", plane=PLANES, shard=SHARDS
        ),
        characters=f"{RUN}/characters.zarr",
    output:
        directory(f"{RUN}/dataset.zarr"),
    log:
        f"{RUN}/logs/dataset.log",
    benchmark:
        f"{RUN}/benchmarks/dataset.tsv"
    conda:
        "../envs/generation.yaml"
    resources:
        mem_mb=8000,
    params:
        split=settings("split"),
        config_hash=config_hash(),
        config=dataset_config(),
        seed=config["seed"],
    shell:
        "python -m deepdraw.dataset --shards {input.shards:q} --characters {input.characters:q}"
        " --split {params.split:q} --seed {params.seed} --config-hash {params.config_hash}"
        " --config {params.config:q}"
        " --output {output:q} > {log:q} 2>&1"
