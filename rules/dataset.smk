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
        split=settings("split", ["by", "validation_fraction", "test_fraction"]),
        config_hash=config_hash(),
        config=dataset_config(),
        seed=config["seed"],
    shell:
        "python -m deepdraw.dataset --shards {input.shards:q} --characters {input.characters:q}"
        " --split {params.split:q} --seed {params.seed} --config-hash {params.config_hash}"
        " --config {params.config:q}"
        " --output {output:q} > {log:q} 2>&1"


rule dataset_bias:
    input:
        shards=expand(
            f"{RUN}/shards/{{plane}}/{{shard}}.zarr", plane=PLANES, shard=SHARDS
        ),
        start_points=config["generation"]["start_points"],
    output:
        report=f"{RUN}/dataset/bias.json",
        tests=report(
            f"{RUN}/dataset/bias_tests.csv",
            caption="../report/dataset_bias.rst",
            category="Dataset",
        ),
        start_points=report(
            f"{RUN}/dataset/bias_start_points.csv",
            caption="../report/dataset_bias.rst",
            category="Dataset",
        ),
        figure=report(
            f"{RUN}/dataset/bias.png",
            caption="../report/dataset_bias.rst",
            category="Dataset",
        ),
    log:
        f"{RUN}/logs/dataset_bias.log",
    benchmark:
        f"{RUN}/benchmarks/dataset_bias.tsv"
    conda:
        "../envs/analysis.yaml"
    params:
        seed=config["seed"],
    shell:
        "python -m deepdraw.bias --shards {input.shards:q} --start-points {input.start_points:q}"
        " --seed {params.seed} --json {output.report:q} --csv {output.start_points:q}"
        " --figure {output.figure:q} --tests {output.tests:q} > {log:q} 2>&1"
