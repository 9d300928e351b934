rule generate_shard:
    input:
        characters=f"{RUN}/characters.zarr",
        start_points=config["generation"]["start_points"],
        surrogate=surrogate_file(),
        model=muscle_model(),
    output:
        directory(f"{RUN}/shards/{{plane}}/{{shard}}.zarr"),
    log:
        f"{RUN}/logs/generate_shard/{{plane}}/{{shard}}.log",
    benchmark:
        f"{RUN}/benchmarks/generate_shard/{{plane}}/{{shard}}.tsv"
    conda:
        "../envs/generation.yaml"
    resources:
        mem_mb=shard_mem_mb(),
        runtime=30,
    params:
        generation=settings("generation"),
        backend=config["muscles"]["backend"],
        surrogate=lambda wildcards, input: (
            f"--surrogate '{input.surrogate}'" if input.surrogate else ""
        ),
        seed=config["seed"],
        # the registered augmentation latents: registering one regenerates the shards
        latents=describe_latents(),
    shell:
        "python -m deepdraw.generation shard --characters {input.characters:q}"
        " --start-points {input.start_points:q} {params.surrogate}"
        " --model {input.model:q} --backend {params.backend} --settings {params.generation:q}"
        " --plane {wildcards.plane} --shard {wildcards.shard} --seed {params.seed}"
        " --output {output:q} > {log:q} 2>&1"
