wildcard_constraints:
    task=r"[A-Za-z0-9_]+",
    arch=r"[A-Za-z0-9_.-]+",
    instance=INSTANCE_WILDCARD,
    orientation=PLANE_WILDCARD,
    height=r"-?\d+(\.\d+)?",


rule activations:
    input:
        model=f"{RUN}/models/{{task}}/{{arch}}/{{instance}}/model.keras",
        dataset=f"{RUN}/dataset.zarr",
    output:
        directory(f"{ANALYSIS}/activations/{{task}}/{{arch}}/{{instance}}.zarr"),
    log:
        f"{RUN}/logs/activations/{{task}}/{{arch}}/{{instance}}.log",
    benchmark:
        f"{RUN}/benchmarks/activations/{{task}}/{{arch}}/{{instance}}.tsv"
    conda:
        # needs Keras to run the model
        "../envs/training.yaml"
    resources:
        mem_mb=4000,
    params:
        analysis=settings("analysis", ACTIVATION_KEYS),
        seed=config["seed"],
    shell:
        "python -m deepdraw.activations --model {input.model:q} --dataset {input.dataset:q}"
        " --analysis {params.analysis:q} --seed {params.seed} --output {output:q} > {log:q} 2>&1"


rule tuning:
    input:
        activations=f"{ANALYSIS}/activations/{{task}}/{{arch}}/{{instance}}.zarr",
        dataset=f"{RUN}/dataset.zarr",
    output:
        f"{ANALYSIS}/tuning/{{task}}/{{arch}}/{{instance}}.parquet",
    log:
        f"{RUN}/logs/tuning/{{task}}/{{arch}}/{{instance}}.log",
    benchmark:
        f"{RUN}/benchmarks/tuning/{{task}}/{{arch}}/{{instance}}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=4000,
    params:
        analysis=settings("analysis", TUNING_KEYS),
        seed=config["seed"],
    shell:
        "python -m deepdraw.tuning fit --activations {input.activations:q} --dataset {input.dataset:q}"
        " --analysis {params.analysis:q} --seed {params.seed} --task {wildcards.task}"
        " --architecture {wildcards.arch} --instance {wildcards.instance} --output {output:q}"
        " > {log:q} 2>&1"


rule tuning_summary:
    input:
        analysis_files(f"{ANALYSIS}/tuning/{{task}}/{{arch}}/{{instance}}.parquet"),
    output:
        expand(f"{ANALYSIS}/summary/{{name}}.csv", name=SUMMARIES),
    log:
        f"{RUN}/logs/tuning_summary.log",
    benchmark:
        f"{RUN}/benchmarks/tuning_summary.tsv"
    conda:
        "../envs/analysis.yaml"
    params:
        analysis=settings("analysis", SUMMARY_KEYS),
        outdir=lambda wildcards, output: output[0].rsplit("/", 1)[0],
    shell:
        "python -m deepdraw.tuning summarize --tables {input:q} --analysis {params.analysis:q}"
        " --output-dir {params.outdir:q} > {log:q} 2>&1"


rule similarity:
    input:
        activations=analysis_files(
            f"{ANALYSIS}/activations/{{task}}/{{arch}}/{{instance}}.zarr"
        ),
        dataset=f"{RUN}/dataset.zarr",
        cross_task=cross_task_activations(),
    output:
        cka=f"{ANALYSIS}/similarity/cka.csv",
        targets=f"{ANALYSIS}/similarity/targets.csv",
        cka_tasks=f"{ANALYSIS}/similarity/cka_tasks.csv",
    log:
        f"{RUN}/logs/similarity.log",
    benchmark:
        f"{RUN}/benchmarks/similarity.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=4000,
    shell:
        "python -m deepdraw.similarity --activations {input.activations:q} --dataset {input.dataset:q}"
        " --cross-task-activations {input.cross_task:q} --cka {output.cka:q}"
        " --targets {output.targets:q} --cka-tasks {output.cka_tasks:q} > {log:q} 2>&1"


rule decoding:
    input:
        activations=f"{ANALYSIS}/activations/{{task}}/{{arch}}/{{instance}}.zarr",
        dataset=f"{RUN}/dataset.zarr",
    output:
        f"{ANALYSIS}/decoding/{{task}}/{{arch}}/{{instance}}.csv",
    log:
        f"{RUN}/logs/decoding/{{task}}/{{arch}}/{{instance}}.log",
    benchmark:
        f"{RUN}/benchmarks/decoding/{{task}}/{{arch}}/{{instance}}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=4000,
    params:
        analysis=settings("analysis", DECODING_KEYS),
        seed=config["seed"],
    shell:
        "python -m deepdraw.decoding fit --activations {input.activations:q} --dataset {input.dataset:q}"
        " --analysis {params.analysis:q} --seed {params.seed} --task {wildcards.task}"
        " --architecture {wildcards.arch} --instance {wildcards.instance} --output {output:q}"
        " > {log:q} 2>&1"


rule decoding_summary:
    input:
        analysis_files(f"{ANALYSIS}/decoding/{{task}}/{{arch}}/{{instance}}.csv"),
    output:
        report(
            f"{ANALYSIS}/summary/decoding.csv",
            caption="../report/analysis_decoding.rst",
            category="Population decoding",
        ),
    log:
        f"{RUN}/logs/decoding_summary.log",
    benchmark:
        f"{RUN}/benchmarks/decoding_summary.tsv"
    conda:
        "../envs/analysis.yaml"
    shell:
        "python -m deepdraw.decoding combine --tables {input:q} --output {output:q} > {log:q} 2>&1"


rule tsne:
    input:
        activations=f"{ANALYSIS}/activations/{{task}}/{{arch}}/{{instance}}.zarr",
        dataset=f"{RUN}/dataset.zarr",
    output:
        figure=report(
            f"{ANALYSIS}/figures/tsne/{{task}}/{{arch}}/{{instance}}.png",
            caption="../report/analysis_tsne.rst",
            category="Representations",
            subcategory="t-SNE",
        ),
        table=f"{ANALYSIS}/tsne/{{task}}/{{arch}}/{{instance}}.csv",
    log:
        f"{RUN}/logs/tsne/{{task}}/{{arch}}/{{instance}}.log",
    benchmark:
        f"{RUN}/benchmarks/tsne/{{task}}/{{arch}}/{{instance}}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=4000,
    params:
        analysis=settings("analysis", TSNE_KEYS),
        seed=config["seed"],
    shell:
        "python -m deepdraw.tsne --activations {input.activations:q} --dataset {input.dataset:q}"
        " --analysis {params.analysis:q} --seed {params.seed} --task {wildcards.task}"
        " --architecture {wildcards.arch} --instance {wildcards.instance}"
        " --figure {output.figure:q} --table {output.table:q} > {log:q} 2>&1"


rule invariance_set:
    input:
        characters=f"{RUN}/characters.zarr",
        start_points=config["generation"]["start_points"],
        surrogate=surrogate_file(),
        model=muscle_model(),
    output:
        directory(f"{INVARIANCE}/sets/{{orientation}}/{{height}}.zarr"),
    log:
        f"{RUN}/logs/invariance_set/{{orientation}}/{{height}}.log",
    benchmark:
        f"{RUN}/benchmarks/invariance_set/{{orientation}}/{{height}}.tsv"
    conda:
        "../envs/generation.yaml"
    resources:
        mem_mb=invariance_set_mem_mb(),
    params:
        generation=settings("generation", SHARD_KEYS),
        invariance=lambda wildcards: json.dumps(invariance_settings(), sort_keys=True),
        backend=config["muscles"]["backend"],
        surrogate=lambda wildcards, input: (
            f"--surrogate '{input.surrogate}'" if input.surrogate else ""
        ),
        seed=config["seed"],
        # the registered augmentation latents, as for the shards: registering one remakes the sets
        latents=describe_latents(),
    shell:
        "python -m deepdraw.invariance plane-set --characters {input.characters:q}"
        " --start-points {input.start_points:q} {params.surrogate} --model {input.model:q}"
        " --backend {params.backend} --generation {params.generation:q}"
        " --invariance {params.invariance:q} --orientation {wildcards.orientation}"
        " --height {wildcards.height} --seed {params.seed} --output {output:q} > {log:q} 2>&1"


rule invariance_planes:
    input:
        invariance_sets(),
    output:
        directory(f"{INVARIANCE}/planes.zarr"),
    log:
        f"{RUN}/logs/invariance_planes.log",
    benchmark:
        f"{RUN}/benchmarks/invariance_planes.tsv"
    conda:
        "../envs/analysis.yaml"
    shell:
        "python -m deepdraw.invariance gather --sets {input:q} --output {output:q} > {log:q} 2>&1"


rule invariance_activations:
    input:
        model=f"{RUN}/models/{{task}}/{{arch}}/{{instance}}/model.keras",
        planes=f"{INVARIANCE}/planes.zarr",
    output:
        directory(f"{INVARIANCE}/activations/{{task}}/{{arch}}/{{instance}}.zarr"),
    log:
        f"{RUN}/logs/invariance_activations/{{task}}/{{arch}}/{{instance}}.log",
    benchmark:
        f"{RUN}/benchmarks/invariance_activations/{{task}}/{{arch}}/{{instance}}.tsv"
    conda:
        # needs Keras to run the model
        "../envs/training.yaml"
    resources:
        mem_mb=4000,
    params:
        analysis=lambda wildcards: invariance_readout(),
        seed=config["seed"],
    shell:
        "python -m deepdraw.activations --model {input.model:q} --dataset {input.planes:q}"
        " --analysis {params.analysis:q} --seed {params.seed} --output {output:q} > {log:q} 2>&1"


rule invariance_fit:
    input:
        activations=f"{INVARIANCE}/activations/{{task}}/{{arch}}/{{instance}}.zarr",
        planes=f"{INVARIANCE}/planes.zarr",
    output:
        f"{INVARIANCE}/units/{{task}}/{{arch}}/{{instance}}.parquet",
    log:
        f"{RUN}/logs/invariance_fit/{{task}}/{{arch}}/{{instance}}.log",
    benchmark:
        f"{RUN}/benchmarks/invariance_fit/{{task}}/{{arch}}/{{instance}}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=4000,
    params:
        analysis=settings("analysis", INVARIANCE_KEYS),
        seed=config["seed"],
    shell:
        "python -m deepdraw.invariance fit --activations {input.activations:q}"
        " --planes {input.planes:q} --analysis {params.analysis:q} --seed {params.seed}"
        " --task {wildcards.task} --architecture {wildcards.arch}"
        " --instance {wildcards.instance} --output {output:q} > {log:q} 2>&1"


rule invariance_summary:
    input:
        analysis_files(f"{INVARIANCE}/units/{{task}}/{{arch}}/{{instance}}.parquet"),
    output:
        heights=report(
            f"{INVARIANCE}/heights.csv",
            caption="../report/analysis_invariance_heights.rst",
            category="Tuning",
        ),
        layers=f"{INVARIANCE}/layers.csv",
        comparison=report(
            f"{INVARIANCE}/comparison.csv",
            caption="../report/analysis_invariance_heights.rst",
            category="Tuning",
        ),
    log:
        f"{RUN}/logs/invariance_summary.log",
    benchmark:
        f"{RUN}/benchmarks/invariance_summary.tsv"
    conda:
        "../envs/analysis.yaml"
    params:
        analysis=settings("analysis", INVARIANCE_KEYS),
    shell:
        "python -m deepdraw.invariance summarize --tables {input:q} --analysis {params.analysis:q}"
        " --heights {output.heights:q} --layers {output.layers:q}"
        " --comparison {output.comparison:q} > {log:q} 2>&1"


rule analysis_report:
    input:
        summary=expand(f"{ANALYSIS}/summary/{{name}}.csv", name=SUMMARIES),
        units=analysis_files(
            f"{ANALYSIS}/tuning/{{task}}/{{arch}}/{{instance}}.parquet"
        ),
        cka=f"{ANALYSIS}/similarity/cka.csv",
        targets=f"{ANALYSIS}/similarity/targets.csv",
        models=f"{MODELS}/summary.csv",
        svm=svm_summary(),
        histories=model_histories(),
        data_figures=data_figure_targets(),
        dataset=f"{RUN}/dataset.zarr",
        bias=f"{RUN}/dataset/bias_tests.csv",
        invariance_heights=f"{INVARIANCE}/heights.csv",
        invariance_comparison=f"{INVARIANCE}/comparison.csv",
    output:
        performance=report(
            f"{ANALYSIS}/figures/performance.png",
            caption="../report/analysis_performance.rst",
            category="Task performance",
        ),
        learning_curves=report(
            f"{ANALYSIS}/figures/learning_curves.png",
            caption="../report/analysis_learning_curves.rst",
            category="Task performance",
        ),
        fractions=report(
            f"{ANALYSIS}/figures/fractions.png",
            caption="../report/analysis_fractions.rst",
            category="Tuning",
        ),
        directions=report(
            f"{ANALYSIS}/figures/directions.png",
            caption="../report/analysis_directions.rst",
            category="Tuning",
        ),
        invariance=report(
            f"{ANALYSIS}/figures/invariance.png",
            caption="../report/analysis_invariance.rst",
            category="Tuning",
        ),
        invariance_heights=report(
            f"{ANALYSIS}/figures/invariance_heights.png",
            caption="../report/analysis_invariance_heights.rst",
            category="Tuning",
        ),
        cka=report(
            f"{ANALYSIS}/figures/cka.png",
            caption="../report/analysis_cka.rst",
            category="Similarity",
        ),
        study=report(
            f"{ANALYSIS}/study_comparison.csv",
            caption="../report/analysis_study.rst",
            category="Comparison with the study",
        ),
        html=report(
            f"{ANALYSIS}/report.html",
            caption="../report/analysis_report.rst",
            category="Report",
        ),
    log:
        f"{RUN}/logs/analysis_report.log",
    benchmark:
        f"{RUN}/benchmarks/analysis_report.tsv"
    conda:
        "../envs/analysis.yaml"
    params:
        analysis=settings("analysis", REPORT_KEYS),
        run=config["run"],
        summary_dir=lambda wildcards, input: input.summary[0].rsplit("/", 1)[0],
        figure_dir=lambda wildcards, output: output.fractions.rsplit("/", 1)[0],
        # the SVM baseline is optional (config section svm)
        svm=lambda wildcards, input: ["--svm-summary", *input.svm] if input.svm else [],
    shell:
        "python -m deepdraw.report --summary-dir {params.summary_dir:q} --units {input.units:q}"
        " --cka {input.cka:q} --targets {input.targets:q} --analysis {params.analysis:q}"
        " --models-summary {input.models:q} {params.svm:q} --histories {input.histories:q}"
        " --data-figures {input.data_figures:q} --dataset {input.dataset:q} --run {params.run:q}"
        " --dataset-bias {input.bias:q} --invariance-heights {input.invariance_heights:q}"
        " --invariance-comparison {input.invariance_comparison:q} --study {output.study:q}"
        " --figure-dir {params.figure_dir:q} --html {output.html:q} > {log:q} 2>&1"
