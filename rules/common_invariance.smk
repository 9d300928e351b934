# Plane invariance (deepdraw.invariance): test sets on parallel planes, per-plane fits.
INVARIANCE = f"{ANALYSIS}/invariance"


def invariance_settings():
    """analysis.invariance (schema defaults filled in)."""
    return config["analysis"]["invariance"]


def invariance_sets():
    """One test set per plane of analysis.invariance.heights (height in cm, as in the path)."""
    heights = invariance_settings()["heights"]
    return [
        f"{INVARIANCE}/sets/{orientation}/{float(h):g}.zarr"
        for orientation in ("horizontal", "vertical")
        for h in heights[orientation]
    ]


def invariance_readout():
    """The analysis settings with n_test_samples covering every plane-set sample."""
    n = len(invariance_sets()) * invariance_settings()["samples_per_height"]
    read_out = {key: config["analysis"][key] for key in ACTIVATION_KEYS}
    return json.dumps({**read_out, "n_test_samples": n}, sort_keys=True)


def invariance_set_mem_mb():
    """Memory of one invariance_set job: a generation shard of samples_per_height samples
    (measured ~0.17 MB per sample over ~0.32 GB for shards, with a 1.5x margin)."""
    return 500 + int(0.25 * invariance_settings()["samples_per_height"])
