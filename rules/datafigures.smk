rule data_figures:
    input:
        dataset=f"{RUN}/dataset.zarr",
    output:
        samples=report(
            expand(f"{DATA_FIGURES}/samples_{{plane}}.png", plane=PLANES),
            caption="../report/data_samples.rst",
            category="Dataset",
        ),
        distributions=report(
            f"{DATA_FIGURES}/distributions.png",
            caption="../report/data_distributions.rst",
            category="Dataset",
        ),
        animation=report(
            f"{DATA_FIGURES}/drawing.gif",
            caption="../report/data_animation.rst",
            category="Dataset",
        ),
    log:
        f"{RUN}/logs/data_figures.log",
    benchmark:
        f"{RUN}/benchmarks/data_figures.tsv"
    conda:
        "../envs/analysis.yaml"
    params:
        planes=PLANES,
    shell:
        "python -m deepdraw.datafigures figures --dataset {input.dataset:q}"
        " --planes {params.planes} --samples {output.samples:q}"
        " --distributions {output.distributions:q} --animation {output.animation:q}"
        " > {log:q} 2>&1"
