"""Source characters: read the UCI pen-tip recordings, preprocess them, split and store them.

Three inputs are accepted, recognised by their content (not their name):

* the UCI layout of ``mixoutALL_shifted.mat`` and the shipped
  ``resources/uci_characters_full2858.mat``: ``mixout`` (1 x n cell of 3 x T arrays) and a
  ``consts`` struct with ``charlabels`` (1 x n, 1-based) and ``key`` (cell of letters);
* the layout of the 1429-sample half (``tests/data/uci_characters_half1429.mat``): ``xtrain``
  (cell), ``ytrain`` (labels), ``key``;
* a long CSV with columns ``sample,label,step,vel_x,vel_y,tip_force`` (label = letter).

Each recording holds pen-tip x and y velocity and pen force per 200 Hz step. Preprocessing
follows the authors' ``dataset/uci_trajectorydata.py``: drop the force, drop the steps where
both velocity components are exactly zero, integrate, then map x and y independently onto
[-5, 5] cm (min-max scaling, so the *range*, not the mean, is centred on 0).
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from deepdraw import __version__, cliutil
from deepdraw.contract import LETTERS
from deepdraw.dataset import stratified_pick
from deepdraw.io import open_zarr, rng_for, write_zarr

log = logging.getLogger(__name__)

BOX_CM = 10.0
CSV_COLUMNS = ("sample", "label", "step", "vel_x", "vel_y", "tip_force")
LAYOUTS = ("UCI 'mixout' + 'consts' (.mat)", "'xtrain' + 'ytrain' + 'key' (.mat)",
           "long CSV with columns " + ",".join(CSV_COLUMNS))
_MAT_MAGIC = b"MATLAB"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class CharacterSet:
    """Raw pen-tip velocities of the source characters as read from a file.

    Attributes
    ----------
    velocities : list of (T_i, 2) float arrays, pen-tip x and y velocity per 200 Hz step
        (tablet units per step), force channel dropped
    labels : (n,) int, class 0..19, index into ``letters``
    source_indices : (n,) int, position of each character in the input file
    letters : str, the 20 class letters in label order
    source : str, path of the input file
    sha256 : str, hex digest of the input file's bytes
    """

    velocities: list[np.ndarray]
    labels: np.ndarray
    source_indices: np.ndarray
    letters: str
    source: str
    sha256: str


@dataclass(frozen=True)
class StoredCharacters:
    """Preprocessed characters as read back from ``characters.zarr``.

    Attributes
    ----------
    trajectories : list of (T_i, 2) float arrays, pen-tip position in cm
    labels, source_indices : (n,) int
    split : (n,) int8, 0 train, 1 test
    letters : str
    attrs : dict, provenance attributes of the store
    """

    trajectories: list[np.ndarray]
    labels: np.ndarray
    source_indices: np.ndarray
    split: np.ndarray
    letters: str
    attrs: dict


def read_characters(path: str | Path) -> CharacterSet:
    """Read UCI character recordings from any of the accepted layouts.

    Parameters
    ----------
    path : .mat file (``mixout``/``consts`` or ``xtrain``/``ytrain``/``key``) or long CSV

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file is unreadable or corrupt, has none of the accepted layouts, or holds
        labels outside the key; the message names the file and what to fix.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: character file not found; set characters.file in the config to "
            "resources/uci_characters_full2858.mat, UCI's mixoutALL_shifted.mat or a long CSV")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if raw.startswith(_HDF5_MAGIC):
        raise ValueError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; re-save it in "
                         "MATLAB with save(..., '-v7')")
    if raw.startswith(_MAT_MAGIC):
        velocities, labels, indices, letters = _read_mat(path)
    else:
        velocities, labels, indices, letters = _read_csv(path, raw)
    if not velocities:
        raise ValueError(f"{path}: holds no character recordings; accepted layouts: "
                         f"{'; '.join(LAYOUTS)}")
    for index, velocity in zip(indices, velocities):
        bad = ~np.isfinite(velocity)
        if bad.any():
            step, column = (int(i) for i in np.argwhere(bad)[0])
            value = velocity[step, column]
            raise ValueError(f"{path}: recording {int(index)} has a non-finite pen velocity "
                             f"({value} in {'xy'[column]} at step {step}); fix or remove that "
                             "recording")
    return CharacterSet(velocities, labels, indices, letters, str(path), digest)


def _read_mat(path: Path) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, str]:
    """Parse either MATLAB layout; see :func:`read_characters`."""
    import scipy.io  # only the .mat reader needs it; the shard jobs import this module too

    try:
        mat = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises many types (ValueError, zlib.error, ...) on bad bytes
        raise ValueError(f"{path}: cannot read the MATLAB file ({type(exc).__name__}: {exc}); "
                         "it is corrupt or truncated, download it again") from exc
    if "mixout" in mat:
        if "consts" not in mat:
            raise ValueError(f"{path}: has 'mixout' but no 'consts' struct (with 'charlabels' "
                             f"and 'key'); accepted layouts: {'; '.join(LAYOUTS)}")
        consts = mat["consts"]
        names = consts.dtype.names or ()
        for field in ("charlabels", "key"):
            if field not in names:
                raise ValueError(f"{path}: 'consts' has no field '{field}' (fields: "
                                 f"{', '.join(names) or 'none'}); accepted layouts: "
                                 f"{'; '.join(LAYOUTS)}")
        cells, raw_labels, key = mat["mixout"], consts["charlabels"].flat[0], consts["key"].flat[0]
    elif "xtrain" in mat:
        for name in ("ytrain", "key"):
            if name not in mat:
                raise ValueError(f"{path}: has 'xtrain' but no '{name}'; accepted layouts: "
                                 f"{'; '.join(LAYOUTS)}")
        cells, raw_labels, key = mat["xtrain"], mat["ytrain"], mat["key"]
    else:
        found = ", ".join(k for k in mat if not k.startswith("__")) or "none"
        raise ValueError(f"{path}: no 'mixout' or 'xtrain' variable (found: {found}); accepted "
                         f"layouts: {'; '.join(LAYOUTS)}")
    letters = _key_letters(path, key)
    velocities = [_cell_velocity(path, i, c) for i, c in enumerate(np.ravel(cells))]
    labels = np.asarray(raw_labels).ravel()
    if len(labels) != len(velocities):
        raise ValueError(f"{path}: {len(labels)} labels for {len(velocities)} recordings; the "
                         "label vector must have one entry per recording")
    if not np.all((labels >= 1) & (labels <= len(letters)) & (labels == np.round(labels))):
        bad = labels[~((labels >= 1) & (labels <= len(letters)))][:5]
        raise ValueError(f"{path}: labels must be integers 1..{len(letters)} (1-based into the "
                         f"key); found e.g. {bad.tolist()}")
    file_letters = np.array(list(letters))[labels.astype(int) - 1]
    return velocities, _to_class(path, file_letters), np.arange(len(velocities)), LETTERS


def _key_letters(path: Path, key) -> str:
    """The key's letters in file order, checked against the 20 known classes."""
    letters = "".join(str(np.ravel(k)[0]) if np.size(k) else "" for k in np.ravel(key))
    unknown = sorted(set(letters) - set(LETTERS))
    if len(letters) != len(set(letters)) or unknown:
        raise ValueError(f"{path}: 'key' must list distinct letters among '{LETTERS}'; got "
                         f"'{letters}'")
    return letters


def _cell_velocity(path: Path, index: int, cell) -> np.ndarray:
    """(T, 2) pen velocity of one 3 x T (or 2 x T) recording."""
    arr = np.asarray(cell, dtype=float)
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ValueError(f"{path}: recording {index} has shape {arr.shape}; each cell must be a "
                         "3 x T array (x velocity, y velocity, pen force)")
    return arr[:2].T.copy()


def _to_class(path: Path, letters: np.ndarray) -> np.ndarray:
    """Map letters to class indices 0..19 of :data:`LETTERS`."""
    lookup = {c: i for i, c in enumerate(LETTERS)}
    unknown = sorted(set(letters.tolist()) - set(lookup))
    if unknown:
        raise ValueError(f"{path}: labels {unknown} are not among the 20 classes '{LETTERS}'")
    return np.array([lookup[c] for c in letters], dtype=int)


def _read_csv(path: Path, raw: bytes) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, str]:
    """Parse the long CSV layout; see :func:`read_characters`."""
    try:
        table = pd.read_csv(io.BytesIO(raw))
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"{path}: neither a MATLAB file nor a readable CSV ({exc}); accepted "
                         f"layouts: {'; '.join(LAYOUTS)}") from exc
    missing = [c for c in CSV_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: CSV lacks column(s) {', '.join(missing)}; accepted layouts: "
                         f"{'; '.join(LAYOUTS)}")
    numeric = ["sample", "step", "vel_x", "vel_y"]
    values = table[numeric].apply(pd.to_numeric, errors="coerce")
    if values.isna().any().any():
        bad = values.columns[values.isna().any()].tolist()
        raise ValueError(f"{path}: non-numeric or empty values in column(s) {', '.join(bad)}")
    table = table.assign(**{c: values[c] for c in numeric}).sort_values(["sample", "step"],
                                                                     kind="stable")
    if table.duplicated(["sample", "step"]).any():
        raise ValueError(f"{path}: repeated (sample, step) rows; each step must appear once")
    groups = table.groupby("sample", sort=True)
    labels_per_sample = groups["label"].nunique()
    mixed = labels_per_sample.index[labels_per_sample != 1].tolist()
    if mixed:
        raise ValueError(f"{path}: sample(s) {mixed[:5]} carry more than one label")
    velocities, letters, indices = [], [], []
    for sample, group in groups:
        vel = group[["vel_x", "vel_y"]].to_numpy(dtype=float)
        if len(vel) < 2:
            raise ValueError(f"{path}: sample {sample} has {len(vel)} step(s); need at least 2")
        velocities.append(vel)
        letters.append(str(group["label"].iloc[0]).strip())
        indices.append(int(sample))
    return velocities, _to_class(path, np.array(letters)), np.array(indices), LETTERS


def preprocess_velocities(velocity: np.ndarray) -> np.ndarray:
    """Pen velocity to a pen-tip position trajectory scaled into a 10 x 10 cm box.

    Parameters
    ----------
    velocity : (T, 2) pen-tip x and y velocity per step (any unit)

    Returns
    -------
    (T', 2) position in cm, T' = number of steps with non-zero velocity; each axis spans
    exactly [-5, 5] cm (min-max scaled independently, as the original's ``upscale``).
    """
    velocity = np.asarray(velocity, dtype=float)
    if velocity.ndim != 2 or velocity.shape[1] != 2 or not np.isfinite(velocity).all():
        raise ValueError(f"velocity must be a finite (T, 2) array; got shape {velocity.shape}")
    moving = ~np.all(velocity == 0, axis=1)
    position = np.cumsum(velocity[moving], axis=0)
    low, high = position.min(axis=0, initial=np.inf), position.max(axis=0, initial=-np.inf)
    if moving.sum() < 2 or np.any(high - low <= 0):
        raise ValueError("a character must move along both x and y over at least 2 steps to be "
                         "scaled into the box")
    return ((position - low) / (high - low) - 0.5) * BOX_CM


def preprocess(velocities: list[np.ndarray]) -> list[np.ndarray]:
    """:func:`preprocess_velocities` for every character; list of (T_i', 2) cm arrays."""
    out = []
    for i, vel in enumerate(velocities):
        try:
            out.append(preprocess_velocities(vel))
        except ValueError as exc:
            raise ValueError(f"character {i}: {exc}") from exc
    return out


def split_characters(labels: np.ndarray, test_fraction: float,
                     rng: np.random.Generator) -> np.ndarray:
    """Hold out ``round(test_fraction * count)`` characters of every label for testing.

    Parameters
    ----------
    labels : (n,) int
    test_fraction : float in [0, 1)

    Returns
    -------
    (n,) int8, 0 train, 1 test
    """
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1); got {test_fraction}")
    return stratified_pick(np.asarray(labels), test_fraction, rng).astype(np.int8)


def pad(trajectories: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack (T_i, 2) trajectories into (n, max T, 2), NaN after each end; also (n,) lengths."""
    lengths = np.array([len(t) for t in trajectories], dtype=int)
    out = np.full((len(trajectories), lengths.max(initial=0), 2), np.nan)
    for i, t in enumerate(trajectories):
        out[i, : len(t)] = t
    return out, lengths


def write_characters(charset: CharacterSet, path: str | Path, split: np.ndarray,
                     attrs: dict | None = None) -> None:
    """Preprocess ``charset`` and write ``characters.zarr`` atomically.

    Variables: ``trajectory (character, step, axis)`` cm NaN-padded, ``length``, ``label``,
    ``source_index``, ``split`` (0 train, 1 test). Attrs: ``letters``, source file and sha256.
    """
    split = np.asarray(split)
    if split.shape != charset.labels.shape or not np.isin(split, (0, 1)).all():
        raise ValueError(f"split must be a (n,) array of 0/1 for n={len(charset.labels)}")
    padded, lengths = pad(preprocess(charset.velocities))
    ds = xr.Dataset(
        {
            "trajectory": (("character", "step", "axis"), padded,
                           {"units": "cm", "long_name": "pen-tip position, NaN after the end"}),
            "length": ("character", lengths.astype(np.int32),
                       {"units": "step", "long_name": "number of valid steps"}),
            "label": ("character", charset.labels.astype(np.int16),
                      {"long_name": "character class", "letters": charset.letters}),
            "source_index": ("character", charset.source_indices.astype(np.int32),
                             {"long_name": "position of the character in the source file"}),
            "split": ("character", split.astype(np.int8),
                      {"flag_values": [0, 1], "flag_meanings": "train test"}),
        },
        coords={"axis": ["x", "y"]},
        attrs={"letters": charset.letters, "source_file": Path(charset.source).name,
               "source_sha256": charset.sha256, "box_cm": BOX_CM,
               "deepdraw_version": __version__, "created_by": "deepdraw.characters",
               **(attrs or {})},
    )
    write_zarr(ds, path)


def load_characters(path: str | Path) -> StoredCharacters:
    """Read a store written by :func:`write_characters`."""
    ds = open_zarr(path)
    missing = [v for v in ("trajectory", "length", "label", "source_index", "split")
               if v not in ds]
    if missing:
        raise ValueError(f"{path}: not a characters store, missing {', '.join(missing)}; "
                         "rebuild it with the characters rule")
    padded = ds["trajectory"].values
    lengths = ds["length"].values.astype(int)
    return StoredCharacters(
        trajectories=[padded[i, :n] for i, n in enumerate(lengths)],
        labels=ds["label"].values.astype(int),
        source_indices=ds["source_index"].values.astype(int),
        split=ds["split"].values.astype(np.int8),
        letters=str(ds.attrs["letters"]),
        attrs=dict(ds.attrs),
    )


def main(argv: list[str] | None = None) -> None:
    """CLI of the ``characters`` rule."""
    parser = cliutil.parser("python -m deepdraw.characters", __doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="UCI .mat (either layout) or long CSV")
    parser.add_argument("--output", required=True, help="characters.zarr to write")
    parser.add_argument("--test-fraction", type=float, required=True,
                        help="fraction of each letter's characters held out for testing")
    parser.add_argument("--seed", type=int, required=True, help="master seed")
    args = cliutil.parse_args(parser, argv)
    try:
        charset = read_characters(args.input)
        split = split_characters(charset.labels, args.test_fraction,
                                 rng_for(args.seed, "characters", "split"))
        write_characters(charset, args.output, split,
                         {"seed": args.seed, "test_fraction": args.test_fraction})
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"characters: {exc}") from exc
    counts = np.bincount(charset.labels, minlength=len(LETTERS))
    log.info("%s: %d characters (%d test), %d-%d per letter -> %s", args.input,
             len(charset.labels), int(split.sum()), counts.min(), counts.max(), args.output)


if __name__ == "__main__":
    main()
