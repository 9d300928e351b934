rule characters:
    input:
        config["characters"]["file"],
    output:
        directory(f"{RUN}/characters.zarr"),
    log:
        f"{RUN}/logs/characters.log",
    benchmark:
        f"{RUN}/benchmarks/characters.tsv"
    conda:
        "../envs/generation.yaml"
    params:
        test_fraction=config["characters"]["test_fraction"],
        seed=config["seed"],
    shell:
        "python -m deepdraw.characters --input {input:q} --output {output:q}"
        " --test-fraction {params.test_fraction} --seed {params.seed} > {log:q} 2>&1"
