from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/common_invariance.smk"
include: "rules/characters.smk"
include: "rules/startpoints.smk"
include: "rules/muscles.smk"
include: "rules/generation.smk"
include: "rules/dataset.smk"
include: "rules/datafigures.smk"
include: "rules/training.smk"
include: "rules/analysis.smk"
include: "rules/provenance.smk"


rule all:
    default_target: True
    input:
        all_targets(),


onsuccess:
    # where to look and the headline numbers; never fails a finished run
    try:
        from deepdraw.summary import print_run_summary

        print_run_summary(RUN)
    except Exception as exc:
        print(f"run summary unavailable ({exc}); try: deepdraw summary {RUN}")
