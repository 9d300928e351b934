"""Figures that show what the dataset holds: samples, distributions and an animation.

For a few samples per writing plane, one row of panels each: the character as drawn in its
plane, the hand path in 3-D with the arm at a few instants, the four joint angles, the 25
noise-free muscle lengths and the two spindle input channels (length, velocity) as heat maps.
A second figure shows the distributions of the augmentation latents, the start points and
the joint angles; a GIF shows the arm drawing one character.

Command line::

    python -m deepdraw.datafigures figures --dataset results/<run>/dataset.zarr \\
        --planes horizontal vertical --samples samples_horizontal.png samples_vertical.png \\
        --distributions distributions.png --animation drawing.gif
    python -m deepdraw.datafigures sample --dataset results/<run>/dataset.zarr --index 0 \\
        --output sample0.png
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.animation import FuncAnimation, PillowWriter  # noqa: E402

from deepdraw import cliutil  # noqa: E402
from deepdraw.arm import JOINT_NAMES, elbow_position, forward_kinematics  # noqa: E402
from deepdraw.augmentation import LATENTS  # noqa: E402
from deepdraw.contract import LETTERS, PLANES  # noqa: E402
from deepdraw.io import atomic_path, open_zarr  # noqa: E402
from deepdraw.kinematics import in_plane  # noqa: E402

log = logging.getLogger(__name__)

#: Readable names of the joints of :data:`deepdraw.arm.JOINT_NAMES`.
JOINT_LABELS = {"elv_angle": "elevation plane", "shoulder_elv": "shoulder elevation",
                "shoulder_rot": "shoulder rotation", "elbow_flexion": "elbow flexion"}
REQUIRED = ("label", "plane", "hand", "joints", "muscle_length", "spindles", "onset", "duration",
            "start_point")
#: Samples drawn at most for the distribution figure (all of them on small datasets).
MAX_DISTRIBUTION_SAMPLES = 5000
ARM_INSTANTS = 4
MAX_FRAMES = 60


def open_dataset(path: str | Path) -> xr.Dataset:
    """Open ``dataset.zarr`` and check it has what the figures need (clear error otherwise)."""
    ds = open_zarr(path)
    missing = [name for name in REQUIRED if name not in ds.variables]
    if missing:
        raise ValueError(f"{path}: dataset lacks {', '.join(missing)} for the data figures "
                         "(see docs/architecture.md for the dataset contract)")
    return ds


def letters(ds: xr.Dataset) -> str:
    """Letters of the label codes (attribute ``letters`` of ``label``)."""
    return str(ds["label"].attrs.get("letters", LETTERS))


def arm_points(q: np.ndarray) -> np.ndarray:
    """Shoulder, elbow and hand positions for joint angles.

    Parameters
    ----------
    q : (..., 4) joint angles, deg.

    Returns
    -------
    (..., 3, 3) world positions, cm: shoulder (the origin), elbow, hand along axis -2.
    """
    q = np.asarray(q, dtype=float)
    shoulder = np.zeros(q.shape[:-1] + (3,))
    return np.stack([shoulder, elbow_position(q), forward_kinematics(q)], axis=-2)


def pick_samples(ds: xr.Dataset, plane: int, n: int) -> list[int]:
    """Up to ``n`` sample indices of one plane, of different letters where possible.

    Deterministic: the first sample of each new letter in dataset order, then any others.
    """
    labels = ds["label"].values
    candidates = np.flatnonzero(ds["plane"].values == plane)
    chosen, seen = [], set()
    for index in candidates:
        if labels[index] not in seen:
            chosen.append(int(index))
            seen.add(labels[index])
        if len(chosen) == n:
            return chosen
    rest = [int(i) for i in candidates if int(i) not in chosen]
    return chosen + rest[: n - len(chosen)]


def _sample(ds: xr.Dataset, index: int) -> dict:
    """One sample's arrays as numpy (loads only that sample)."""
    one = ds.isel(sample=index)
    onset, duration = int(one["onset"]), int(one["duration"])
    plane = int(one["plane"])
    return {
        "index": index,
        "letter": letters(ds)[int(one["label"])],
        "plane": plane,
        "time": np.asarray(ds["time"].values, dtype=float),
        "muscles": [str(m) for m in ds["muscle"].values],
        "joint_names": [str(j) for j in ds["joint"].values] if "joint" in ds.coords else list(JOINT_NAMES),
        "onset": onset,
        "end": onset + duration,
        "hand": one["hand"].values.astype(float),
        "joints": one["joints"].values.astype(float),
        "lengths": one["muscle_length"].values.astype(float),
        "spindles": one["spindles"].values.astype(float),
    }


def _mark_movement(ax, s: dict) -> None:
    """Dashed lines at the movement's onset and end (the hand is held still outside)."""
    for step in (s["onset"], min(s["end"], len(s["time"])) - 1):
        ax.axvline(s["time"][step], color="k", lw=0.6, ls="--")


def _heatmap(fig, ax, values: np.ndarray, s: dict, title: str, unit: str, cmap: str,
             symmetric: bool) -> None:
    """Muscles x time image with a colour bar; ``symmetric`` centres the colours on zero."""
    limit = np.nanmax(np.abs(values)) if symmetric else None
    image = ax.imshow(values, aspect="auto", origin="lower", cmap=cmap, interpolation="nearest",
                      extent=(s["time"][0], s["time"][-1], -0.5, values.shape[0] - 0.5),
                      vmin=-limit if symmetric else None, vmax=limit if symmetric else None)
    ax.set_yticks(range(values.shape[0]), s["muscles"], fontsize=5.5)
    ax.set_xlabel("time (s)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02).set_label(unit, fontsize=8)


def _equal_3d(ax, points: np.ndarray) -> None:
    """Equal scaling of the three axes around ``points`` (n, 3)."""
    lo, hi = np.nanmin(points, axis=0), np.nanmax(points, axis=0)
    centre, half = (lo + hi) / 2, max(np.max(hi - lo) / 2, 1.0)
    ax.set(xlim=(centre[0] - half, centre[0] + half), ylim=(centre[1] - half, centre[1] + half),
           zlim=(centre[2] - half, centre[2] + half))
    ax.set_box_aspect((1, 1, 1))


def _view(ax, plane: int) -> None:
    """Look from behind the shoulder: from above for horizontal characters, level for vertical ones.

    The world frame has x forward, y left, z up, so this shows characters as the writer sees them.
    """
    ax.view_init(elev=60 if plane == 0 else 15, azim=-155)


def _draw_arm_3d(ax, s: dict) -> None:
    """Hand path (cm) and the arm (shoulder, elbow, hand) at a few instants of the movement."""
    move = slice(s["onset"], s["end"])
    path = s["hand"][move]
    ax.plot(*path.T, color="tab:red", lw=1.2, label="hand path")
    steps = np.linspace(s["onset"], s["end"] - 1, ARM_INSTANTS).round().astype(int)
    points = arm_points(s["joints"][steps])
    for k, arm in enumerate(points):
        shade = 0.25 + 0.75 * k / max(ARM_INSTANTS - 1, 1)
        ax.plot(*arm.T, color=plt.cm.Blues(shade), lw=2, marker="o", ms=2.5)
    ax.plot([], [], color=plt.cm.Blues(0.8), lw=2, label="arm (light → dark: time)")
    _equal_3d(ax, np.concatenate([path, points.reshape(-1, 3)]))
    _view(ax, s["plane"])
    ax.set_xlabel("x (cm)", fontsize=7, labelpad=-2)
    ax.set_ylabel("y (cm)", fontsize=7, labelpad=-2)
    ax.set_zlabel("z (cm)", fontsize=7, labelpad=-2)
    ax.tick_params(labelsize=6, pad=0)
    ax.legend(fontsize=6, loc="upper left")


def _sample_row(fig, axes, s: dict) -> None:
    """Fill six panels with one sample (see the module docstring); the second (3-D) is axes[1]."""
    plane_name = PLANES[s["plane"]]
    ax = axes[0]
    xy = in_plane(s["hand"][None, s["onset"]:s["end"]], np.array([s["plane"]]))[0]
    points = ax.scatter(xy[:, 0], xy[:, 1], c=s["time"][s["onset"]:s["end"]], s=4, cmap="viridis")
    ax.plot(xy[0, 0], xy[0, 1], "k^", ms=6, label="start")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set(xlabel="in-plane x (cm)", ylabel="in-plane y (cm)")
    ax.set_title(f"sample {s['index']}: '{s['letter']}', {plane_name} plane", fontsize=9)
    ax.legend(fontsize=6, loc="best")
    fig.colorbar(points, ax=ax, fraction=0.05, pad=0.02).set_label("time (s)", fontsize=8)

    _draw_arm_3d(axes[1], s)
    axes[1].set_title("hand path and arm (world frame)", fontsize=9)

    ax = axes[2]
    for j, name in enumerate(s["joint_names"]):
        ax.plot(s["time"], s["joints"][:, j], lw=1.2, label=JOINT_LABELS.get(name, name))
    _mark_movement(ax, s)
    ax.set(xlabel="time (s)", ylabel="joint angle (deg)")
    ax.set_title("joint angles", fontsize=9)
    ax.legend(fontsize=6, loc="best")

    lengths = s["lengths"] - np.nanmean(s["lengths"], axis=1, keepdims=True)
    _heatmap(fig, axes[3], lengths, s, "muscle length − its mean (noise-free)", "mm", "RdBu_r", True)
    spindle_length = s["spindles"][..., 0] - np.nanmean(s["spindles"][..., 0], axis=1, keepdims=True)
    _heatmap(fig, axes[4], spindle_length, s, "spindle input: length − its mean", "mm", "RdBu_r", True)
    _heatmap(fig, axes[5], s["spindles"][..., 1], s, "spindle input: velocity", "mm/s", "PuOr_r", True)
    for ax in axes[3:]:
        _mark_movement(ax, s)


def _sample_figure(ds: xr.Dataset, indices: list[int], out_path: str | Path) -> None:
    """Two rows of three panels per sample: kinematics above, muscles and spindles below."""
    if not indices:
        raise ValueError(f"no samples to plot for {out_path}")
    n_rows = 2 * len(indices)
    fig = plt.figure(figsize=(17, 3.9 * n_rows))
    for k, index in enumerate(indices):
        s = _sample(ds, index)
        axes = [fig.add_subplot(n_rows, 3, 6 * k + col + 1, projection="3d" if col == 1 else None)
                for col in range(6)]
        _sample_row(fig, axes, s)
    fig.tight_layout(h_pad=2.0)
    _save(fig, out_path)


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)


def plot_sample(dataset_path: str | Path, index: int, out_path: str | Path) -> Path:
    """Plot one sample of a dataset (character, arm in 3-D, joints, muscles, spindles) as PNG.

    Parameters
    ----------
    dataset_path : path of ``dataset.zarr``.
    index : sample index, 0 <= index < number of samples.
    out_path : PNG to write (atomically).

    Returns
    -------
    ``out_path`` as a Path.
    """
    ds = open_dataset(dataset_path)
    n = ds.sizes["sample"]
    if not 0 <= index < n:
        raise ValueError(f"{dataset_path}: sample index {index} out of range (the dataset has {n} samples)")
    _sample_figure(ds, [index], out_path)
    return Path(out_path)


def plot_plane_samples(ds: xr.Dataset, plane: str, out_path: str | Path, per_plane: int = 3) -> list[int]:
    """A few samples of one plane, one row each; returns the sample indices shown."""
    code = PLANES.index(plane)
    indices = pick_samples(ds, code, per_plane)
    if not indices:
        raise ValueError(f"the dataset has no sample in the {plane} plane; "
                         f"drop it from --planes (generation.planes in the config)")
    _sample_figure(ds, indices, out_path)
    return indices


def _spread(n: int, k: int) -> np.ndarray:
    """At most ``k`` evenly spaced indices of ``range(n)`` (all of them when n <= k)."""
    return np.arange(n) if n <= k else np.linspace(0, n - 1, k).round().astype(int)


def plot_distributions(ds: xr.Dataset, out_path: str | Path) -> None:
    """Latents, letters, durations, start points (two projections per plane) and joint angles."""
    rows = _spread(ds.sizes["sample"], MAX_DISTRIBUTION_SAMPLES)
    sub = ds.isel(sample=rows)
    plane = sub["plane"].values
    planes = [(code, name) for code, name in enumerate(PLANES) if np.any(plane == code)]
    colors = {0: "tab:blue", 1: "tab:orange"}
    joint_names = [str(j) for j in ds["joint"].values] if "joint" in ds.coords else list(JOINT_NAMES)
    # one panel per registered latent, letters, durations, two start-point views per plane, joints
    n_panels = len(LATENTS) + 2 + 2 * len(PLANES) + len(joint_names)
    n_rows = -(-n_panels // 4)
    fig, axes = plt.subplots(n_rows, 4, figsize=(16, 3.5 * n_rows))
    axes = axes.ravel()
    panel = 0
    for latent in LATENTS.values():
        name, label = f"latent_{latent.name}", latent.label
        unit = {"1": "factor"}.get(latent.unit, latent.unit)
        ax = axes[panel]
        panel += 1
        if name not in sub:
            ax.text(0.5, 0.5, f"no '{label}' latent in this dataset", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()
            continue
        values = sub[name].values
        for code, pname in planes:
            v, counts = np.unique(values[plane == code], return_counts=True)
            width = 0.35 * (np.min(np.diff(np.unique(values))) if len(np.unique(values)) > 1 else 1)
            ax.bar(v + (code - 0.5) * width, counts, width=width, color=colors[code], label=pname)
        ax.set(xlabel=f"{label} ({unit})", ylabel="samples", title=f"latent: {label}")
        ax.legend(fontsize=7)
    ax = axes[panel]
    panel += 1
    codes = np.arange(len(letters(ds)))
    for code, pname in planes:
        counts = np.bincount(sub["label"].values[plane == code], minlength=len(codes))
        ax.bar(codes + (code - 0.5) * 0.4, counts, width=0.4, color=colors[code], label=pname)
    ax.set_xticks(codes, list(letters(ds)))
    ax.set(xlabel="letter", ylabel="samples", title="letters")
    ax.legend(fontsize=7)
    ax = axes[panel]
    panel += 1
    dt = float(ds["time"].values[1] - ds["time"].values[0])
    for code, pname in planes:
        ax.hist(sub["duration"].values[plane == code] * dt, bins=20, color=colors[code], alpha=0.6,
                label=pname)
    ax.set(xlabel="movement duration (s)", ylabel="samples", title="movement durations")
    ax.legend(fontsize=7)
    start = sub["start_point"].values
    for code, pname in enumerate(PLANES):
        for a, b in ((0, 1), (1, 2)):
            ax = axes[panel]
            panel += 1
            sel = start[plane == code]
            if len(sel) == 0:
                ax.text(0.5, 0.5, f"no {pname}-plane samples", ha="center", va="center",
                        transform=ax.transAxes)
                ax.set_axis_off()
                continue
            ax.scatter(sel[:, a], sel[:, b], s=5, color=colors[code], alpha=0.5)
            ax.plot(0, 0, "k+", ms=10)
            ax.set(xlabel=f"{'xyz'[a]} (cm)", ylabel=f"{'xyz'[b]} (cm)",
                   title=f"start points, {pname} plane ({'xyz'[a]}–{'xyz'[b]})")
            ax.set_aspect("equal", adjustable="datalim")
    joint_rows = _spread(len(rows), 500)
    joints = sub["joints"].isel(sample=joint_rows).values  # (n, T, 4) deg
    onset, duration = sub["onset"].values[joint_rows], sub["duration"].values[joint_rows]
    steps = np.arange(joints.shape[1])[None, :]
    moving = (steps >= onset[:, None]) & (steps < (onset + duration)[:, None])
    for j, jname in enumerate(joint_names):
        ax = axes[panel]
        panel += 1
        for code, pname in planes:
            values = joints[plane[joint_rows] == code][moving[plane[joint_rows] == code]][:, j]
            ax.hist(values, bins=40, color=colors[code], alpha=0.6, label=pname)
        ax.set(xlabel=f"{JOINT_LABELS.get(jname, jname)} (deg)", ylabel="time steps",
               title=f"joint angle: {JOINT_LABELS.get(jname, jname)}")
        ax.legend(fontsize=7)
    for ax in axes[panel:]:
        ax.set_axis_off()
    fig.suptitle(f"{ds.sizes['sample']} samples"
                 + (f" ({len(rows)} shown)" if len(rows) < ds.sizes["sample"] else ""), y=1.0)
    fig.tight_layout()
    _save(fig, out_path)


def animate_sample(ds: xr.Dataset, index: int, out_path: str | Path, n_frames: int = 48,
                   fps: int = 12) -> None:
    """GIF of the arm drawing sample ``index``: arm (shoulder, elbow, hand) and the path so far.

    ``n_frames`` (at most 60) time steps are spread over the movement; the GIF is small
    (360 x 360 pixels).
    """
    if not 2 <= n_frames <= MAX_FRAMES:
        raise ValueError(f"n_frames must be between 2 and {MAX_FRAMES}; got {n_frames}")
    s = _sample(ds, index)
    steps = np.unique(np.linspace(s["onset"], s["end"] - 1, n_frames).round().astype(int))
    arms = arm_points(s["joints"][steps])
    path = s["hand"][s["onset"]:s["end"]]
    fig = plt.figure(figsize=(4.5, 4.5), dpi=80)
    ax = fig.add_subplot(projection="3d")
    _equal_3d(ax, np.concatenate([path, arms.reshape(-1, 3)]))
    _view(ax, s["plane"])
    ax.plot(*path.T, color="0.8", lw=1)  # the whole character, faint, for orientation
    ax.set_xlabel("x (cm)", fontsize=7)
    ax.set_ylabel("y (cm)", fontsize=7)
    ax.set_zlabel("z (cm)", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.set_title(f"'{s['letter']}', {PLANES[s['plane']]} plane (sample {index})", fontsize=9)
    (arm_line,) = ax.plot([], [], [], color="tab:blue", lw=3, marker="o", ms=4)
    (trace,) = ax.plot([], [], [], color="tab:red", lw=1.5)

    def update(frame):
        arm_line.set_data_3d(*arms[frame].T)
        trace.set_data_3d(*path[: steps[frame] - s["onset"] + 1].T)
        return arm_line, trace

    animation = FuncAnimation(fig, update, frames=len(steps), blit=False)
    out_path = Path(out_path)
    # PillowWriter picks the format from the file suffix, so write a .gif in a scratch folder
    # beside the output and move it into place atomically
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_path.parent) as scratch:
        gif = Path(scratch) / "animation.gif"
        animation.save(gif, writer=PillowWriter(fps=fps))
        with atomic_path(out_path) as tmp:
            shutil.copyfile(gif, tmp)
    plt.close(fig)


def make_figures(dataset: str | Path, planes: list[str], sample_figures: list[str | Path],
                 distributions: str | Path, animation: str | Path, per_plane: int = 3) -> None:
    """All data figures of one dataset (see the module docstring)."""
    if len(planes) != len(sample_figures):
        raise ValueError(f"give one sample figure per plane: {len(planes)} planes, "
                         f"{len(sample_figures)} figures")
    ds = open_dataset(dataset)
    first = None
    for plane, path in zip(planes, sample_figures):
        shown = plot_plane_samples(ds, plane, path, per_plane)
        log.info("%s plane: samples %s -> %s", plane, shown, path)
        first = shown[0] if first is None else first
    plot_distributions(ds, distributions)
    log.info("distributions -> %s", distributions)
    animate_sample(ds, first if first is not None else 0, animation)
    log.info("animation of sample %s -> %s (%.0f kB)", first, animation, Path(animation).stat().st_size / 1e3)


def main(argv=None) -> None:
    parser = cliutil.parser("python -m deepdraw.datafigures", __doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    figures = sub.add_parser("figures", help="sample figures per plane, distributions, animation")
    figures.add_argument("--dataset", required=True, help="dataset.zarr")
    figures.add_argument("--planes", nargs="+", required=True, choices=PLANES)
    figures.add_argument("--samples", nargs="+", required=True, help="one PNG per plane, same order")
    figures.add_argument("--distributions", required=True, help="PNG")
    figures.add_argument("--animation", required=True, help="GIF")
    figures.add_argument("--per-plane", type=int, default=3, help="samples shown per plane")
    one = sub.add_parser("sample", help="plot one sample")
    one.add_argument("--dataset", required=True, help="dataset.zarr")
    one.add_argument("--index", type=int, required=True, help="sample index")
    one.add_argument("--output", required=True, help="PNG")
    args = cliutil.parse_args(parser, argv)
    if args.command == "figures":
        make_figures(args.dataset, args.planes, args.samples, args.distributions, args.animation,
                     args.per_plane)
    else:
        plot_sample(args.dataset, args.index, args.output)


if __name__ == "__main__":
    main()
