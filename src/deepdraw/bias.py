"""Rejection bias of the generated dataset, from the candidate tables of its shards.

Every shard logs each candidate movement it tried (:func:`deepdraw.generation.read_candidates`):
its source character, drawn start point and latents, whether it was accepted and why not.
Candidates are drawn uniformly (latent values, start points) and the letters follow the
requested samples, so any departure of the *accepted* samples from those distributions is
caused by the rejection tests. This module measures it:

* acceptance and use per plane, start point, letter and latent value;
* chi-square tests of the accepted values of every latent against uniform, of the accepted
  letters against the letters requested, and of the use of the start points against uniform
  (:func:`scipy.stats.chisquare`);
* start points never used against the number expected by chance: ``m (1 - 1/m)^n`` for ``n``
  uniform draws over ``m`` points, with the probability of at least as many unused points
  from a seeded simulation of uniform draws;
* joint-angle ranges of the candidates against those of the accepted samples;
* the fraction of candidates rejected for a muscle-related reason (``muscle_*``).

``python -m deepdraw.bias`` writes the full report (JSON), the per-start-point table (CSV) and
a figure; :func:`summary` is the compact version stored in the dataset's provenance.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from deepdraw import augmentation, cliutil
from deepdraw.arm import JOINT_NAMES
from deepdraw.contract import IN_PLANE_AXES, PLANES
from deepdraw.io import atomic_path

log = logging.getLogger(__name__)

# Simulations of uniform start-point draws for the p-value of the number of unused points.
N_SIMULATIONS = 2000


def read_tables(shard_paths: list[str | Path]) -> tuple[pd.DataFrame, dict[str, int], str]:
    """Concatenate the candidate tables of the shards.

    Returns
    -------
    candidates : one row per candidate: ``plane`` (name), ``shard``, ``sample``, ``attempt``,
        ``label``, ``start_index``, ``latent_<name>``, ``accepted``, ``first_reason``,
        ``muscle_rejected``, ``joint_min_<joint>``, ``joint_max_<joint>`` (deg)
    n_start_points : plane -> number of start points the shards drew from
    letters : the letters of the labels
    """
    from deepdraw.generation import read_candidates

    frames, n_start_points, letters = [], {}, ""
    for path in shard_paths:
        table = read_candidates(path)
        plane = table.attrs["plane"]
        n_start_points[plane] = int(table.attrs["n_start_points"])
        letters = table["label"].attrs.get("letters", letters)
        frames.append(candidate_frame(table, plane, int(table.attrs.get("shard", 0))))
    if not frames:
        raise ValueError("no shard given: pass the shard stores made by generate_shard")
    return pd.concat(frames, ignore_index=True), n_start_points, letters


def candidate_frame(table, plane: str, shard: int = 0) -> pd.DataFrame:
    """One shard's candidate table (xarray.Dataset along ``candidate``) as a DataFrame."""
    columns = {
        "plane": np.full(table.sizes["candidate"], plane, dtype=object),
        "shard": np.full(table.sizes["candidate"], shard),
    }
    for name in ("sample", "attempt", "label", "start_index", "accepted", "first_reason"):
        columns[name] = table[name].values
    for name in augmentation.LATENTS:
        columns[f"latent_{name}"] = table[f"latent_{name}"].values.astype(float)
    muscle = [v for v in table.data_vars if str(v).startswith("reason_muscle")]
    columns["muscle_rejected"] = (np.any([table[v].values for v in muscle], axis=0) if muscle
                                  else np.zeros(table.sizes["candidate"], dtype=bool))
    for k, joint in enumerate(JOINT_NAMES):
        columns[f"joint_min_{joint}"] = table["joint_min"].values[:, k].astype(float)
        columns[f"joint_max_{joint}"] = table["joint_max"].values[:, k].astype(float)
    return pd.DataFrame(columns)


def chi_square(observed, expected=None) -> dict:
    """Chi-square goodness of fit of counts (uniform if ``expected`` is None).

    ``expected`` is rescaled to the observed total. Returns the statistic, degrees of
    freedom and p-value (NaN when fewer than two categories or no counts).
    """
    observed = np.asarray(observed, dtype=float)
    if observed.size < 2 or observed.sum() == 0:
        return {"chi2": float("nan"), "dof": int(max(observed.size - 1, 0)), "p": float("nan")}
    if expected is not None:
        expected = np.asarray(expected, dtype=float)
        keep = expected > 0
        observed, expected = observed[keep], expected[keep] * observed.sum() / expected[keep].sum()
    result = stats.chisquare(observed, expected)
    return {"chi2": float(result.statistic), "dof": int(observed.size - 1),
            "p": float(result.pvalue)}


def expected_unused(n_draws: int, n_points: int) -> float:
    """Expected number of points never drawn in ``n_draws`` uniform draws over ``n_points``."""
    return float(n_points * (1.0 - 1.0 / n_points) ** n_draws)


def unused_test(counts: np.ndarray, n_simulations: int = N_SIMULATIONS, seed: int = 0) -> dict:
    """Start points never used, against uniform draws of the same number of samples.

    Parameters
    ----------
    counts : (m,) int, how many samples used each start point

    Returns
    -------
    dict: ``points`` m, ``draws`` n, ``unused`` observed, ``expected`` ``m (1 - 1/m)^n``,
    ``simulated_mean`` and ``p`` = P(at least ``unused`` unused points | uniform) from
    ``n_simulations`` seeded multinomial draws (add-one estimate, never 0).
    """
    counts = np.asarray(counts, dtype=int)
    m, n = len(counts), int(counts.sum())
    unused = int(np.sum(counts == 0))
    rng = np.random.default_rng(seed)
    simulated = np.sum(rng.multinomial(n, np.full(m, 1.0 / m), size=n_simulations) == 0, axis=1)
    return {"points": m, "draws": n, "unused": unused, "expected": expected_unused(n, m),
            "simulated_mean": float(simulated.mean()),
            "p": float((1 + np.sum(simulated >= unused)) / (1 + n_simulations))}


def _by_value(frame: pd.DataFrame, column: str, values) -> dict:
    """Candidates, accepted and acceptance per value of ``column`` (in the order of values)."""
    cand = frame.groupby(column).size().reindex(values, fill_value=0)
    acc = frame[frame["accepted"]].groupby(column).size().reindex(values, fill_value=0)
    return {"values": [float(v) if isinstance(v, (float, np.floating)) else int(v) for v in values],
            "candidates": cand.astype(int).tolist(), "accepted": acc.astype(int).tolist(),
            "acceptance": (acc / cand.where(cand > 0)).astype(float).round(6).tolist()}


def joint_ranges(frame: pd.DataFrame) -> dict:
    """Joint-angle range (deg) over all candidates' solved steps and over the accepted ones."""
    out = {}
    for name, rows in (("candidates", frame), ("accepted", frame[frame["accepted"]])):
        out[name] = {j: [float(np.nanmin(rows[f"joint_min_{j}"], initial=np.inf)),
                         float(np.nanmax(rows[f"joint_max_{j}"], initial=-np.inf))]
                     for j in JOINT_NAMES}
    return out


def plane_report(frame: pd.DataFrame, n_points: int, letters: str, seed: int = 0) -> dict:
    """Bias report of one plane's candidates (see the module docstring)."""
    accepted = frame[frame["accepted"]]
    requested = frame[frame["attempt"] == 0]
    n_samples = int(len(requested))  # one first attempt per requested sample of every shard
    report = {
        "candidates": int(len(frame)),
        "accepted": int(len(accepted)),
        "requested": n_samples,
        "candidates_per_sample": float(len(frame) / max(len(accepted), 1)),
        "muscle_rejection_fraction": float(frame["muscle_rejected"].mean()) if len(frame) else 0.0,
        "first_reasons": {str(k): int(v) for k, v in
                          frame.loc[~frame["accepted"], "first_reason"].value_counts().items()},
        "latents": {},
    }
    for name, latent in augmentation.LATENTS.items():
        values = list(latent.values)
        col = f"latent_{name}"
        entry = _by_value(frame.assign(**{col: frame[col].round(6)}), col, values)
        entry["accepted_vs_uniform"] = chi_square(entry["accepted"])
        report["latents"][name] = entry
    labels = list(range(len(letters))) if letters else sorted(frame["label"].unique())
    entry = _by_value(frame, "label", labels)
    entry["letters"] = list(letters) if letters else None
    want = requested.groupby("label").size().reindex(labels, fill_value=0).to_numpy()
    entry["requested"] = want.astype(int).tolist()
    # Every sample keeps its source character through its attempts, so without bias the
    # accepted letters are distributed like the requested ones.
    entry["accepted_vs_requested"] = chi_square(entry["accepted"], want)
    report["letters"] = entry
    use = np.bincount(accepted["start_index"].to_numpy(dtype=int), minlength=n_points)
    drawn = np.bincount(frame["start_index"].to_numpy(dtype=int), minlength=n_points)
    report["start_points"] = {
        "accepted_vs_uniform": chi_square(use),
        "unused_by_accepted": unused_test(use, seed=seed),
        "unused_by_candidates": unused_test(drawn, seed=seed + 1),
    }
    report["joint_ranges"] = joint_ranges(frame)
    return report


def bias_report(frame: pd.DataFrame, n_start_points: dict[str, int], letters: str,
                seed: int = 0) -> dict:
    """Full bias report: overall figures and one :func:`plane_report` per plane."""
    accepted = frame[frame["accepted"]]
    report = {
        "candidates": int(len(frame)),
        "accepted": int(len(accepted)),
        "candidates_per_sample": float(len(frame) / max(len(accepted), 1)),
        "muscle_rejection_fraction": float(frame["muscle_rejected"].mean()) if len(frame) else 0.0,
        "latents_accepted_vs_uniform": {},
        "planes": {},
    }
    for name, latent in augmentation.LATENTS.items():
        col = f"latent_{name}"
        counts = accepted[col].round(6).value_counts().reindex(
            list(latent.values), fill_value=0)
        report["latents_accepted_vs_uniform"][name] = chi_square(counts.to_numpy())
    for k, plane in enumerate(p for p in PLANES if p in n_start_points):
        rows = frame[frame["plane"] == plane]
        report["planes"][plane] = plane_report(rows, n_start_points[plane], letters, seed + 10 * k)
    return report


def summary(report: dict) -> dict:
    """The key figures of a :func:`bias_report`, small enough for the dataset's attributes."""
    out = {key: report[key] for key in ("candidates", "accepted", "candidates_per_sample",
                                        "muscle_rejection_fraction")}
    out["latent_p"] = {k: v["p"] for k, v in report["latents_accepted_vs_uniform"].items()}
    for plane, entry in report["planes"].items():
        unused = entry["start_points"]["unused_by_accepted"]
        out[plane] = {
            "candidates_per_sample": entry["candidates_per_sample"],
            "muscle_rejection_fraction": entry["muscle_rejection_fraction"],
            "latent_p": {k: v["accepted_vs_uniform"]["p"] for k, v in entry["latents"].items()},
            "letter_p": entry["letters"]["accepted_vs_requested"]["p"],
            "start_point_use_p": entry["start_points"]["accepted_vs_uniform"]["p"],
            "start_points_unused": unused["unused"],
            "start_points_unused_expected": round(unused["expected"], 2),
            "start_points_unused_p": unused["p"],
            "joint_ranges": entry["joint_ranges"],
        }
    return out


def start_point_table(frame: pd.DataFrame, n_start_points: dict[str, int],
                      coordinates: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Candidates, accepted samples and acceptance per start point of each plane.

    ``coordinates`` (plane -> (m, 3) cm) adds the world position of each point.
    """
    tables = []
    for plane in (p for p in PLANES if p in n_start_points):
        m = n_start_points[plane]
        rows = frame[frame["plane"] == plane]
        cand = np.bincount(rows["start_index"].to_numpy(dtype=int), minlength=m)
        acc = np.bincount(rows.loc[rows["accepted"], "start_index"].to_numpy(dtype=int), minlength=m)
        table = pd.DataFrame({"plane": plane, "start_index": np.arange(m), "candidates": cand,
                              "accepted": acc})
        with np.errstate(invalid="ignore", divide="ignore"):
            table["acceptance"] = np.where(cand > 0, acc / np.maximum(cand, 1), np.nan)
        if coordinates is not None and plane in coordinates:
            xyz = np.asarray(coordinates[plane])
            if len(xyz) != m:
                raise ValueError(f"start points of plane {plane}: the file has {len(xyz)}, the "
                                 f"shards drew from {m}; pass the start-point file the shards used")
            for k, axis in enumerate("xyz"):
                table[f"{axis}_cm"] = xyz[:, k]
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def write_figure(path: str | Path, report: dict, points: pd.DataFrame) -> None:
    """Acceptance per start point (map), per latent value and per letter, one row per plane."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    planes = list(report["planes"])
    fig, axes = plt.subplots(len(planes), 3, figsize=(15, 4.2 * len(planes)), squeeze=False)
    for row, plane in zip(axes, planes):
        entry = report["planes"][plane]
        table = points[points["plane"] == plane]
        ax = row[0]
        if "x_cm" in table:
            axes_names = ["xyz"[k] for k in IN_PLANE_AXES[plane]]
            u, v = (table[f"{n}_cm"] for n in axes_names)
            labels = tuple(f"{n} (cm)" for n in axes_names)
        else:
            u, v, labels = table["start_index"], table["candidates"], ("start point", "candidates")
        used = table["accepted"] > 0
        # unused first: points of other depths that project onto them stay visible on top
        ax.scatter(u[~used], v[~used], marker="x", c="red", s=14, label="never used")
        sc = ax.scatter(u[used], v[used], c=table["acceptance"][used], s=12, cmap="viridis",
                        vmin=0, vmax=1)
        unused = entry["start_points"]["unused_by_accepted"]
        ax.set_title(f"{plane}: {unused['unused']} of {unused['points']} start points unused "
                     f"(chance {unused['expected']:.1f}, p={unused['p']:.2g})", fontsize=9)
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        ax.legend(fontsize=8, loc="lower right")
        fig.colorbar(sc, ax=ax, label="acceptance")
        ax = row[1]
        x0 = 0
        ticks, names = [], []
        for name, lat in entry["latents"].items():
            xs = x0 + np.arange(len(lat["values"]))
            ax.bar(xs, lat["acceptance"], color="tab:blue")
            ticks += list(xs)
            names += [f"{name[:5]} {v:g}" for v in lat["values"]]
            ax.text(xs.mean(), 1.02, f"p={lat['accepted_vs_uniform']['p']:.1g}", ha="center",
                    fontsize=7)
            x0 += len(lat["values"]) + 1
        ax.set_xticks(ticks, names, rotation=90, fontsize=6)
        ax.set_ylim(0, 1.1)
        ax.set_ylabel("acceptance")
        ax.set_title(f"{plane}: acceptance per latent value (p: accepted vs uniform)", fontsize=9)
        ax = row[2]
        letters = entry["letters"]
        names = letters["letters"] or [str(v) for v in letters["values"]]
        ax.bar(np.arange(len(names)), letters["acceptance"], color="tab:green")
        ax.set_xticks(np.arange(len(names)), names, fontsize=7)
        ax.set_ylim(0, 1.1)
        ax.set_ylabel("acceptance")
        ax.set_title(f"{plane}: acceptance per letter (accepted vs requested "
                     f"p={letters['accepted_vs_requested']['p']:.2g})", fontsize=9)
    fig.suptitle(f"{report['candidates']} candidates, {report['accepted']} accepted; "
                 f"muscle-related rejections {100 * report['muscle_rejection_fraction']:.1f}% "
                 "of candidates", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def tests_table(report: dict) -> pd.DataFrame:
    """The report's tests, one row per plane and test: statistic, degrees of freedom, p-value.

    Rows: each latent and the start-point use against uniform, the letters against the letters
    requested, start points never used against the number expected by chance, and the muscle-related
    rejection fraction of the candidates (no test).
    """
    rows = []
    for plane, entry in report["planes"].items():
        for name, latent in entry["latents"].items():
            test = latent["accepted_vs_uniform"]
            rows.append((plane, f"latent {name}: accepted vs uniform (chi-square)",
                         test["chi2"], test["dof"], test["p"]))
        test = entry["letters"]["accepted_vs_requested"]
        rows.append((plane, "letters: accepted vs requested (chi-square)", test["chi2"], test["dof"], test["p"]))
        test = entry["start_points"]["accepted_vs_uniform"]
        rows.append((plane, "start points: use vs uniform (chi-square)", test["chi2"], test["dof"], test["p"]))
        unused = entry["start_points"]["unused_by_accepted"]
        rows.append((plane, f"start points never used: {unused['unused']} of {unused['points']} "
                     f"(chance: {unused['expected']:.1f})", float(unused["unused"]), None, unused["p"]))
        rows.append((plane, f"muscle-related rejections: {entry['muscle_rejection_fraction']:.2%} of "
                     f"{entry['candidates']} candidates", entry["muscle_rejection_fraction"], None, None))
    return pd.DataFrame(rows, columns=["plane", "test", "statistic", "dof", "p"])


def main(argv=None) -> None:
    parser = cliutil.parser("python -m deepdraw.bias", __doc__)
    parser.add_argument("--shards", nargs="+", required=True, help="shard stores (.zarr)")
    parser.add_argument("--start-points", required=True, help="the start-point file (.hdf5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the unused-point simulation")
    parser.add_argument("--json", required=True)
    parser.add_argument("--csv", required=True)
    parser.add_argument("--figure", required=True)
    parser.add_argument("--tests", required=True, help="CSV of the tests, one row per plane and test")
    args = cliutil.parse_args(parser, argv)
    frame, n_start_points, letters = read_tables(args.shards)
    report = bias_report(frame, n_start_points, letters, args.seed)
    coordinates = {p: augmentation.load_start_points(args.start_points, p) for p in n_start_points}
    points = start_point_table(frame, n_start_points, coordinates)
    with atomic_path(args.json) as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    with atomic_path(args.csv) as tmp:
        points.to_csv(tmp, index=False)
    with atomic_path(args.tests) as tmp:
        tests_table(report).to_csv(tmp, index=False, float_format="%.4g")
    write_figure(args.figure, report, points)
    log.info("bias: %s", json.dumps(summary(report)))


if __name__ == "__main__":
    main()
