# The muscle model: the continuous model derived from the original by the configured
# wrap-object edits, its validation against the original, and the surrogate fit. The default
# run derives the model (seconds) and uses the shipped surrogate built from it; validation
# and refit are optional targets (`snakemake validate_muscle_model fit_muscle_surrogate`).
rule derive_muscle_model:
    input:
        config["muscles"]["original_model"],
    output:
        model=f"{RUN}/muscles/model_corrected.osim",
        provenance=f"{RUN}/muscles/model_corrected.json",
    log:
        f"{RUN}/logs/derive_muscle_model.log",
    benchmark:
        f"{RUN}/benchmarks/derive_muscle_model.tsv"
    conda:
        "../envs/generation.yaml"
    params:
        edits=json.dumps(config["muscles"]["edits"], sort_keys=True),
    shell:
        "python -m deepdraw.muscles derive --original {input:q} --edits {params.edits:q}"
        " --output {output.model:q} --provenance {output.provenance:q} > {log:q} 2>&1"


rule muscle_postures:
    input:
        characters=f"{RUN}/characters.zarr",
        start_points=config["generation"]["start_points"],
    output:
        f"{RUN}/muscles/postures_{{purpose}}.npz",
    log:
        f"{RUN}/logs/muscle_postures/{{purpose}}.log",
    benchmark:
        f"{RUN}/benchmarks/muscle_postures/{{purpose}}.tsv"
    wildcard_constraints:
        purpose="visited|heldout|validation",
    conda:
        "../envs/generation.yaml"
    params:
        generation=settings("generation", POSTURE_KEYS),
        per_plane=lambda wildcards: config["muscles"]["postures_per_plane"][
            wildcards.purpose
        ],
        seed=config["seed"],
    shell:
        "python -m deepdraw.generation postures --characters {input.characters:q}"
        " --start-points {input.start_points:q} --settings {params.generation:q}"
        " --per-plane {params.per_plane} --key muscles_{wildcards.purpose}"
        " --seed {params.seed} --output {output:q} > {log:q} 2>&1"


rule validate_muscle_model:
    input:
        postures=f"{RUN}/muscles/postures_validation.npz",
        original=config["muscles"]["original_model"],
        derived=f"{RUN}/muscles/model_corrected.osim",
    output:
        table=report(
            f"{RUN}/muscles/model_validation.csv",
            caption="../report/muscle_model.rst",
            category="Muscles",
        ),
        figure=report(
            f"{RUN}/muscles/model_validation.png",
            caption="../report/muscle_model.rst",
            category="Muscles",
        ),
    log:
        f"{RUN}/logs/validate_muscle_model.log",
    benchmark:
        f"{RUN}/benchmarks/validate_muscle_model.tsv"
    conda:
        "../envs/generation.yaml"
    threads: 2
    resources:
        runtime=60,
    params:
        jump_tol=config["muscles"]["validation"]["jump_tol_mm"],
    shell:
        "python -m deepdraw.muscles validate --postures {input.postures:q}"
        " --original {input.original:q} --derived {input.derived:q} --jump-tol {params.jump_tol}"
        " --processes {threads} --table {output.table:q} --figure {output.figure:q} > {log:q} 2>&1"


rule fit_muscle_surrogate:
    input:
        visited=f"{RUN}/muscles/postures_visited.npz",
        heldout=f"{RUN}/muscles/postures_heldout.npz",
        model=muscle_model(),
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
        fit=config["muscles"]["fit"],
        residual=json.dumps(config["muscles"]["fit"]["residual_muscles"]),
        switches=json.dumps(config["muscles"]["fit"]["switches"]),
        seed=config["seed"],
    shell:
        "python -m deepdraw.muscles fit --visited {input.visited:q} --heldout {input.heldout:q}"
        " --model {input.model:q} --output {output.surrogate:q} --table {output.table:q}"
        " --figure {output.figure:q} --max-rms {params.fit[max_rms_mm]}"
        " --max-abs {params.fit[max_abs_mm]} --step {params.fit[step_deg]}"
        " --reach {params.fit[reach_deg]} --seed {params.seed} --processes {threads}"
        " --residual {params.residual:q} --switches {params.switches:q}"
        " > {log:q} 2>&1"
