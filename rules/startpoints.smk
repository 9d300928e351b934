# Optional target (not in the default DAG): recompute the reachable start points that
# resources/pcr_startingpoints.hdf5 ships, from the arm model.
rule recompute_start_points:
    output:
        "results/start_points/pcr_startingpoints.hdf5",
    log:
        "results/start_points/recompute.log",
    benchmark:
        "results/start_points/recompute.benchmark.tsv"
    conda:
        "../envs/generation.yaml"
    resources:
        runtime=60,
    shell:
        "python -m deepdraw.startpoints recompute --output {output:q} > {log:q} 2>&1"
