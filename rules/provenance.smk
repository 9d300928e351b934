# The whole resolved config of the run, for the record: only this file is redone when the
# config changes (the dataset stores the sections it depends on).
rule run_config:
    output:
        f"{RUN}/config.yaml",
    log:
        f"{RUN}/logs/run_config.log",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    params:
        config=json.dumps(config),
    shell:
        "python -m deepdraw.config --config {params.config:q} --output {output:q} > {log:q} 2>&1"
