wildcard_constraints:
    seed=r"\d+",


rule train_model:
    input:
        dataset=f"{RUN}/dataset.zarr",
    output:
        model=f"{MODELS}/{{task}}/{{arch}}/seed{{seed}}/model.keras",
        history=f"{MODELS}/{{task}}/{{arch}}/seed{{seed}}/history.csv",
        metrics=f"{MODELS}/{{task}}/{{arch}}/seed{{seed}}/metrics.json",
        tensorboard=directory(f"{MODELS}/{{task}}/{{arch}}/seed{{seed}}/tensorboard"),
    log:
        f"{RUN}/logs/train_model/{{task}}/{{arch}}/seed{{seed}}.log",
    benchmark:
        f"{RUN}/benchmarks/train_model/{{task}}/{{arch}}/seed{{seed}}.tsv"
    conda:
        "../envs/training.yaml"
    threads: training_threads()
    resources:
        mem_mb=training_mem_mb(),
        runtime=720,
    params:
        arch=lambda wildcards: architecture(wildcards.arch),
        settings=training_settings(),
        outdir=lambda wildcards: f"{MODELS}/{wildcards.task}/{wildcards.arch}/seed{wildcards.seed}",
        # gpu when profiles/slurm gives the job a GPU (gres): it must then train on it
        device=training_device,
    shell:
        # checkpoint/ beside the outputs survives a kill: rerunning resumes from the last epoch
        "python -m deepdraw.training train --dataset {input.dataset:q} --task {wildcards.task}"
        " --arch {params.arch:q} --settings {params.settings:q} --seed {wildcards.seed}"
        " --threads {threads} --device {params.device} --output-dir {params.outdir:q}"
        " > {log:q} 2>&1"


rule untrained_model:
    input:
        dataset=f"{RUN}/dataset.zarr",
    output:
        model=f"{MODELS}/{{task}}/{{arch}}/untrained{{seed}}/model.keras",
        metrics=f"{MODELS}/{{task}}/{{arch}}/untrained{{seed}}/metrics.json",
    log:
        f"{RUN}/logs/untrained_model/{{task}}/{{arch}}/untrained{{seed}}.log",
    benchmark:
        f"{RUN}/benchmarks/untrained_model/{{task}}/{{arch}}/untrained{{seed}}.tsv"
    conda:
        "../envs/training.yaml"
    threads: training_threads()
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        arch=lambda wildcards: architecture(wildcards.arch),
        settings=training_settings(),
        outdir=lambda wildcards: f"{MODELS}/{wildcards.task}/{wildcards.arch}/untrained{wildcards.seed}",
        device=training_device,
    shell:
        "python -m deepdraw.training untrained --dataset {input.dataset:q}"
        " --task {wildcards.task} --arch {params.arch:q} --settings {params.settings:q}"
        " --seed {wildcards.seed} --threads {threads} --device {params.device}"
        " --output-dir {params.outdir:q} > {log:q} 2>&1"


rule summarize_models:
    input:
        model_metrics(),
    output:
        table=report(
            f"{MODELS}/summary.csv",
            category="Training",
            caption="../report/training_summary.rst",
        ),
        figure=report(
            f"{MODELS}/summary.png",
            category="Training",
            caption="../report/training_figure.rst",
        ),
        times=f"{MODELS}/training_times.csv",
    log:
        f"{RUN}/logs/summarize_models.log",
    benchmark:
        f"{RUN}/benchmarks/summarize_models.tsv"
    conda:
        "../envs/training.yaml"
    shell:
        "python -m deepdraw.training summarize --metrics {input:q}"
        " --table {output.table:q} --figure {output.figure:q} --times {output.times:q}"
        " > {log:q} 2>&1"


rule svm_baseline:
    input:
        dataset=f"{RUN}/dataset.zarr",
    output:
        results=f"{RUN}/svm/results.csv",
        summary=report(
            f"{RUN}/svm/summary.csv",
            category="SVM baseline",
            caption="../report/svm.rst",
        ),
        figure=report(
            f"{RUN}/svm/svm.png", category="SVM baseline", caption="../report/svm.rst"
        ),
    log:
        f"{RUN}/logs/svm_baseline.log",
    benchmark:
        f"{RUN}/benchmarks/svm_baseline.tsv"
    conda:
        "../envs/training.yaml"
    resources:
        mem_mb=4000,
    params:
        svm=settings("svm"),
        seed=config["seed"],
    shell:
        "python -m deepdraw.svm --dataset {input.dataset:q} --settings {params.svm:q}"
        " --seed {params.seed} --results {output.results:q} --summary {output.summary:q}"
        " --figure {output.figure:q} > {log:q} 2>&1"
