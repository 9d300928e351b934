# The muscle surrogate ships in resources/; these rules refit it on OpenSim evaluations of the
# postures the dataset visits (config muscles.surrogate: fit, or `snakemake fit_muscle_surrogate`).
rule muscle_postures:
    input:
        characters=f"{RUN}/characters.zarr",
        start_points=config["generation"]["start_points"],
    output:
        f"{RUN}/muscles/postures.npz",
    log:
        f"{RUN}/logs/muscle_postures.log",
    benchmark:
        f"{RUN}/benchmarks/muscle_postures.tsv"
    conda:
        "../envs/generation.yaml"
    params:
        generation=settings("generation"),
        per_plane=config["muscles"]["fit"]["characters_per_plane"],
        seed=config["seed"],
    shell:
        "python -m deepdraw.generation postures --characters {input.characters:q}"
        " --start-points {input.start_points:q} --settings {params.generation:q}"
        " --per-plane {params.per_plane} --seed {params.seed} --output {output:q} > {log:q} 2>&1"


rule fit_muscle_surrogate:
    input:
        postures=f"{RUN}/muscles/postures.npz",
        model=config["muscles"]["model"],
    output:
        surrogate=f"{RUN}/muscles/surrogate.npz",
        table=report(
            f"{RUN}/muscles/surrogate_validation.csv",
            caption="../report/muscle_surrogate.rst",
            category="Muscles",
        ),
        figure=report(
            f"{RUN}/muscles/surrogate_validation.png",
            caption="../report/muscle_surrogate.rst",
            category="Muscles",
        ),
    log:
        f"{RUN}/logs/fit_muscle_surrogate.log",
    benchmark:
        f"{RUN}/benchmarks/fit_muscle_surrogate.tsv"
    conda:
        "../envs/generation.yaml"
    threads: 2
    resources:
        runtime=120,
    params:
        max_rms=config["muscles"]["fit"]["max_rms_mm"],
        max_abs=config["muscles"]["fit"]["max_abs_mm"],
    shell:
        "python -m deepdraw.muscles fit --postures {input.postures:q} --model {input.model:q}"
        " --out {output.surrogate:q} --report-csv {output.table:q} --report-figure {output.figure:q}"
        " --max-rms {params.max_rms} --max-abs {params.max_abs} --processes {threads} > {log:q} 2>&1"
