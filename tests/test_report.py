"""The HTML report: sections in the article's order, readable labels, no empty panels."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from deepdraw import report, tuning  # noqa: E402

SECTIONS = ["Dataset", "Task performance against depth", "Single-unit tuning", "Preferred directions",
            "Invariance across planes", "Representational similarity", "Our numbers beside the study's"]
# code names of the synthetic run that must never reach the reader
CODE_NAMES = ["st_2x2", "lstm_a", "position_velocity", "spatial_temporal", "seed0", "untrained0",
              "temporal0", "spatial1", "recurrent0", "encoding_model", "fraction_tuned", "position_cartesian",
              "hand_velocity", "n_tuned", "rayleigh_p"]
SETTINGS = {"n_test_samples": 50, "r2_threshold": 0.2, "train_fraction": 0.8, "direction_bins": 18}
ARCHS = {"st_2x2": ["spatial0", "spatial1", "temporal0", "temporal1"], "lstm_a": ["spatial0", "recurrent0"]}


class Visible(HTMLParser):
    """Visible text of a page, per element kind (headings, table cells, captions, notes)."""

    def __init__(self):
        super().__init__()
        self.stack, self.text = [], {}
        self.sections, self.current = {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.stack.append((tag, attrs.get("class")))
        if tag == "section":
            self.current = attrs.get("id")
            self.sections[self.current] = {"img": 0, "note": ""}
        if tag == "img" and self.current:
            self.sections[self.current]["img"] += 1

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data):
        if not self.stack or not data.strip() or self.stack[-1][0] in ("style", "script"):
            return
        tag, cls = self.stack[-1]
        key = cls if cls in ("note",) else tag
        self.text.setdefault(key, []).append(data.strip())
        if key == "note" and self.current:
            self.sections[self.current]["note"] += data


def unit_table(task, arch, instance, tuned_per_layer, rng, n_units=12):
    """Direction/velocity/label rows of one model: ``tuned_per_layer`` units tuned to direction."""
    trained = instance.startswith("seed")
    rows = []
    for index, layer in enumerate(ARCHS[arch]):
        for unit in range(n_units):
            pd_deg = rng.uniform(0, 360)
            for model in ("direction", "velocity", "position_cartesian", "label"):
                tuned = model == "direction" and unit < tuned_per_layer
                rows.append({"task": task, "architecture": arch, "instance": instance, "trained": trained,
                             "seed": 0, "layer": layer, "layer_index": index, "unit": unit,
                             "encoding_model": model, "tuned": tuned, "constant": False,
                             "r2_train": 0.5 if tuned else 0.0, "r2_test": 0.5 if tuned else 0.0,
                             "pd_deg": pd_deg, "r2_horizontal": 0.5 if tuned else 0.0,
                             "r2_vertical": 0.5 if tuned else 0.0, "pd_horizontal_deg": pd_deg,
                             "pd_vertical_deg": (pd_deg + rng.normal(0, 10)) % 360,
                             "r2_horizontal_to_vertical": 0.3, "r2_vertical_to_horizontal": 0.3})
    return pd.DataFrame(rows)


def make_inputs(tmp_path: Path, tuned: dict[str, int]) -> dict:
    """Synthetic outputs of the analysis, training, SVM and data-figure rules."""
    rng = np.random.default_rng(0)
    tables, frames, cka, targets = [], [], [], []
    for task, arch in (("recognition", "st_2x2"), ("position_velocity", "lstm_a")):
        for instance in ("seed0", "untrained0"):
            frame = unit_table(task, arch, instance, tuned.get(f"{arch}/{instance}", 0), rng)
            path = tmp_path / "tuning" / task / arch / f"{instance}.parquet"
            tuning.write_table(frame, path)
            tables.append(str(path))
            frames.append(frame)
            for index, layer in enumerate(ARCHS[arch]):
                for target in ("input", "hand_position", "hand_velocity", "label"):
                    targets.append({"task": task, "architecture": arch, "instance": instance,
                                    "trained": instance == "seed0", "seed": 0, "layer": layer, "layer_index": index,
                                    "target": target, "cka": rng.uniform(), "rdm_spearman": rng.uniform()})
                for other in ("seed0", "untrained0"):
                    for layer_b in ARCHS[arch]:
                        cka.append({"task": task, "architecture": arch, "instance_a": instance, "layer_a": layer,
                                    "instance_b": other, "layer_b": layer_b, "cka": rng.uniform()})
    for name, frame in tuning.summarize(pd.concat(frames), SETTINGS).items():
        tuning.write_table(frame, tmp_path / "summary" / f"{name}.csv")
    pd.DataFrame(cka).to_csv(tmp_path / "cka.csv", index=False)
    pd.DataFrame(targets).to_csv(tmp_path / "targets.csv", index=False)

    models = []
    for task, arch, family, n_layers in (("recognition", "st_2x2", "spatial_temporal", 4),
                                         ("position_velocity", "lstm_a", "recurrent", 2)):
        for trained in (True, False):
            row = {"task": task, "name": arch, "family": family, "seed": 0, "trained": trained,
                   "n_layers": n_layers, "n_parameters": 1000, "epochs": 3 if trained else np.nan,
                   "arch_spatial_filters": "[8, 8]" if family == "spatial_temporal" else "[8]",
                   "arch_temporal_filters": "[8, 8]" if family == "spatial_temporal" else np.nan,
                   "arch_lstm_units": "[16]" if family == "recurrent" else np.nan}
            if task == "recognition":
                row.update(train_accuracy=0.9 if trained else np.nan, test_accuracy=0.8 if trained else 0.05)
            else:
                row.update(test_position_error_cm=2.0 if trained else 9.0)
            models.append(row)
    pd.DataFrame(models).to_csv(tmp_path / "models.csv", index=False)
    pd.DataFrame([{"representation": "spindles", "n_features": 16000, "n_train": 100, "n_test": 40,
                   "n_pairs": 190, "pairwise_mean": 0.8, "pairwise_sd": 0.1, "multiclass": 0.25,
                   "chance_multiclass": 0.05}]).to_csv(tmp_path / "svm.csv", index=False)
    histories = []
    for task, arch in (("recognition", "st_2x2"), ("position_velocity", "lstm_a")):
        metric = "accuracy" if task == "recognition" else "position_error_cm"
        path = tmp_path / "models" / task / arch / "seed0" / "history.csv"
        path.parent.mkdir(parents=True)
        pd.DataFrame({"epoch": [0, 1, 2], metric: [0.1, 0.5, 0.7], f"val_{metric}": [0.1, 0.4, 0.6]}).to_csv(
            path, index=False)
        histories.append(str(path))
    figures = []
    for name in ("samples_horizontal.png", "distributions.png"):
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1], [0, 1])
        fig.savefig(tmp_path / name)
        plt.close(fig)
        figures.append(str(tmp_path / name))
    frames_gif = [Image.new("RGB", (20, 20), (k * 40, 0, 0)) for k in range(3)]
    frames_gif[0].save(tmp_path / "drawing.gif", save_all=True, append_images=frames_gif[1:])
    figures.append(str(tmp_path / "drawing.gif"))
    return {"tables": tables, "histories": histories, "figures": figures}


def render(tmp_path, tuned, **kwargs) -> tuple[str, Visible]:
    inputs = make_inputs(tmp_path, tuned)
    report.build_report(str(tmp_path / "summary"), inputs["tables"], str(tmp_path / "cka.csv"),
                        str(tmp_path / "targets.csv"), SETTINGS, str(tmp_path / "fig"), str(tmp_path / "r.html"),
                        models_summary=str(tmp_path / "models.csv"), svm_summary=str(tmp_path / "svm.csv"),
                        histories=inputs["histories"], data_figure_paths=inputs["figures"], run="synthetic",
                        **kwargs)
    page = (tmp_path / "r.html").read_text()
    parser = Visible()
    parser.feed(page)
    return page, parser


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tuned = {"st_2x2/seed0": 8, "st_2x2/untrained0": 0, "lstm_a/seed0": 6, "lstm_a/untrained0": 1}
    return render(tmp_path_factory.mktemp("report"), tuned)


def test_every_section_in_the_articles_order(rendered):
    _, page = rendered
    assert page.text["h2"] == [f"{k}. {title}" for k, title in enumerate(SECTIONS, 1)]
    assert page.text["h1"][0].startswith("deepdraw")


def test_no_code_names_or_raw_json_in_the_visible_text(rendered):
    _, page = rendered
    visible = " ".join(" ".join(parts) for parts in page.text.values())
    for name in CODE_NAMES:
        assert name not in visible, name
    assert "{" not in visible and '":' not in visible
    cells = page.text["td"]
    assert "nan" not in {c.lower() for c in cells}
    # the architecture and task code names became readable labels
    assert "spatial-temporal, 4 layers (2 spatial, 2 temporal)" in cells
    assert "LSTM, 2 layers (1 spatial, 1 LSTM)" in cells
    assert any("hand position and velocity decoding" in h for h in page.text["h3"])


def test_every_figure_is_embedded_with_a_caption(rendered, tmp_path_factory):
    html, page = rendered
    # performance, learning curves, fractions, directions, invariance, CKA + two data PNGs and the GIF
    assert html.count("data:image/png;base64,") == len(report.FIGURES) + 2
    assert html.count("data:image/gif;base64,") == 1
    assert len(page.text["figcaption"]) == len(report.FIGURES) + 3
    assert all(len(caption) > 40 for caption in page.text["figcaption"])


def test_models_without_enough_tuned_units_are_named_not_drawn_empty(rendered):
    _, page = rendered
    directions = page.sections["directions"]
    assert directions["img"] == 1  # the trained networks have enough direction-tuned units
    # the untrained ones are named with their count instead of empty panels
    assert "too few direction-tuned units" in directions["note"]
    assert "spatial-temporal, 4 layers (2 spatial, 2 temporal), character recognition, untrained (n=0)" \
        in directions["note"]
    assert "untrained (n=1)" in directions["note"]
    assert "trained (n=8)" not in directions["note"]


def test_a_figure_with_nothing_to_draw_becomes_a_statement(tmp_path):
    _, page = render(tmp_path, tuned={})
    assert page.sections["tuning"]["note"].startswith("No test of trained against untrained")
    for section in ("directions", "invariance"):
        assert page.sections[section]["img"] == 0
        assert "No figure: too few" in page.sections[section]["note"]
    assert (tmp_path / "fig" / "directions.png").exists()  # registered in snakemake --report


def test_study_table_sets_our_numbers_beside_the_study(rendered, tmp_path_factory):
    _, page = rendered
    cells = page.text["td"]
    row = "best test accuracy, spatial-temporal family (character recognition)"
    assert row in cells
    start = cells.index(row)
    assert cells[start + 1] == "0.989"  # the study's, from deepdraw.study
    assert cells[start + 4] == "0.800"  # ours: the best trained spatial-temporal network
    assert any("spatial-temporal, 4 layers" in c for c in cells[start + 5:start + 8])  # its name, in the note
    assert "0.250" in cells  # the SVM's multiclass accuracy beside the study's 0.23
    assert "0.866 ± 0.125" in cells
    assert not any("not transcribed" in c for c in cells)


def test_dataset_bias_table_is_one_more_input(tmp_path):
    bias = tmp_path / "bias.csv"
    pd.DataFrame({"feature": ["duration"], "accuracy": [0.12]}).to_csv(bias, index=False)
    _, page = render(tmp_path, tuned={}, dataset_bias=str(bias))
    assert "Dataset bias" in page.text["h3"]
    assert "duration" in page.text["td"]


def test_tables_format_numbers_and_missing_values():
    table = report.html_table(pd.DataFrame({"name": ["a", "b"], "value": [0.123456, np.nan],
                                            "flag": [True, False]}), "caption")
    assert table.rows == [[("a", True), ("0.123", False), ("yes", True)],
                          [("b", True), ("–", False), ("no", True)]]


def test_labels():
    assert report.layer_label("temporal1", 4) == "L4 temporal"
    assert report.layer_label("spindles", 0) == "L0 spindles"
    models = pd.DataFrame({"name": ["a", "b"], "family": ["spatiotemporal"] * 2,
                           "arch_filters": [json.dumps([8, 8]), json.dumps([16, 16])]})
    labels = report.architecture_labels(models, ["a", "b", "c"])
    # same family and depth: numbered so that rows stay distinguishable
    assert labels == {"a": "spatiotemporal, 2 layers #1", "b": "spatiotemporal, 2 layers #2", "c": "c"}


def test_trained_vs_untrained_cells_carry_the_test_when_there_is_one():
    rows = [{"task": "recognition", "architecture": "st_2x2", "encoding_model": model, "layer": "temporal0",
             "layer_index": 2, "trained_mean": 0.5, "untrained_mean": 0.1, "n_trained": 2, "n_untrained": 2,
             "test": test, "p_bonferroni": 0.004} for model, test in (("direction", "paired t"),
                                                                      ("velocity", np.nan))]
    table, tested = report.comparison_table(pd.DataFrame(rows), {"st_2x2": "spatial-temporal"})
    assert tested
    assert table.to_dict("records") == [{
        "task": "character recognition", "network": "spatial-temporal", "layer": "L2 temporal",
        "movement direction: trained vs untrained": "0.50 vs 0.10 (p=0.004)",
        "velocity: trained vs untrained": "0.50 vs 0.10"}]
    _, tested = report.comparison_table(pd.DataFrame(rows).assign(test=np.nan), {})
    assert not tested


@pytest.mark.slow
def test_report_of_the_test_config_has_every_section(tmp_path):
    from workflow import make_workdir, snakemake

    workdir = make_workdir(tmp_path)
    snakemake(workdir, "--cores", "2", "results/test/analysis/report.html")
    page = Visible()
    page.feed((workdir / "results/test/analysis/report.html").read_text())
    assert page.text["h2"] == [f"{k}. {title}" for k, title in enumerate(SECTIONS, 1)]
    visible = " ".join(" ".join(parts) for parts in page.text.values())
    for name in CODE_NAMES:
        assert name not in visible, name
    assert "{" not in visible
    # two sample figures (one per plane), the distributions and the animation
    assert page.sections["dataset"]["img"] == 4
    for section in ("performance", "tuning", "similarity"):
        assert page.sections[section]["img"] >= 1, section
    assert page.sections["directions"]["img"] == 1 or "(n=" in page.sections["directions"]["note"]
    # the invariance section: the parallel-plane curves, and horizontal vs vertical or a statement
    assert page.sections["invariance"]["img"] == 2 or "(n=" in page.sections["invariance"]["note"]
    # the parallel-plane analysis always draws its deviation curves
    assert page.sections["invariance"]["img"] >= 1
    assert (workdir / "results/test/analysis/study_comparison.csv").exists()


def test_an_unknown_data_figure_is_refused_by_name(tmp_path):
    stray = tmp_path / "other.png"
    stray.write_bytes(b"")
    with pytest.raises(ValueError, match="other.png"):
        report.build_sections(settings=SETTINGS, figures={}, fractions=None, comparison=None, directions=None,
                              invariance=None, targets=None, study=None, arch_labels={},
                              data_figure_paths=[str(stray)])


def test_many_networks_focus_on_the_best_of_each_family():
    names = [f"n{k}" for k in range(10)]
    pairs = {("recognition", n) for n in names} | {("position", n) for n in names}
    models = pd.DataFrame({"task": ["recognition"] * 10 + ["position"] * 10, "name": names * 2,
                           "family": ["spatial_temporal", "recurrent"] * 10, "trained": True,
                           "test_accuracy": list(np.linspace(0.1, 0.9, 10)) + [np.nan] * 10,
                           "test_position_error_cm": [np.nan] * 10 + list(np.linspace(5, 1, 10))})
    chosen = report.focus_networks(pairs, models)
    # highest accuracy / lowest error per family (even names: spatial-temporal, odd: LSTM)
    assert chosen == {("recognition", "n8"), ("recognition", "n9"), ("position", "n8"), ("position", "n9")}
    few = set(sorted(pairs)[:3])
    assert report.focus_networks(few, models) == few


def _plane_units(rng) -> pd.DataFrame:
    """Per-plane direction fits of st_2x2 (3 trained, 3 untrained seeds): PDs turn ~10 deg (trained)
    or ~60 deg (untrained) between the central and the other plane; the spindle input (layer 0)
    turns by 30 deg in every instance."""
    rows = []
    for trained, turn in ((True, 10.0), (False, 60.0)):
        for seed in range(3):
            shift = turn + rng.normal(0, 3)
            for index, layer in enumerate(["spindles", *ARCHS["st_2x2"]]):
                turned = 30.0 if layer == "spindles" else shift
                for height in (0.0, 15.0):
                    for unit in range(5):
                        rows.append({"task": "recognition", "architecture": "st_2x2",
                                     "instance": f"{'seed' if trained else 'untrained'}{seed}", "trained": trained,
                                     "seed": seed, "layer": layer, "layer_index": index, "unit": unit,
                                     "orientation": "horizontal", "height_cm": height, "central": height == 0.0,
                                     "r2_test": 0.5, "tuned": True, "constant": False,
                                     "pd_deg": (70.0 * unit + (turned if height else 0.0)) % 360,
                                     "n_train_rows": 10, "n_test_rows": 3})
    return pd.DataFrame(rows)


def test_parallel_plane_invariance_gets_its_figure_table_and_study_row(tmp_path):
    from deepdraw import invariance

    tables = invariance.summarize(_plane_units(np.random.default_rng(3)), min_units=3)
    for name in ("heights", "comparison"):
        tables[name].to_csv(tmp_path / f"inv_{name}.csv", index=False)
    tuned = {"st_2x2/seed0": 8, "st_2x2/untrained0": 0, "lstm_a/seed0": 6, "lstm_a/untrained0": 1}
    html, page = render(tmp_path, tuned, invariance_heights=str(tmp_path / "inv_heights.csv"),
                        invariance_comparison=str(tmp_path / "inv_comparison.csv"))
    assert html.count("data:image/png;base64,") == len(report.FIGURES) + 2 + 1
    assert (tmp_path / "fig" / "invariance_heights.png").exists()
    assert "Parallel planes at several heights" in page.text["h3"]
    assert any(c.startswith("paired t: t = ") for c in page.text["td"])
    # the spindle input is layer 0 of the table, listed as the untested reference
    assert "L0 spindles" in page.text["td"]
    assert any(c.startswith("spindle input: the same for trained and untrained") for c in page.text["td"])
    study = pd.read_csv(tmp_path / "study_comparison.csv")
    assert list(study.columns) == ["result", "study_value", "study_source", "study_note", "ours_value",
                                   "ours_statistic", "ours_n", "note"]
    row = study[study["result"].str.startswith("mean |deviation| of preferred directions")].iloc[0]
    assert row["ours_value"].startswith("horizontal: trained ")
    assert "paired t per layer, Bonferroni p = " in row["ours_statistic"]
    assert row["ours_value"].startswith("horizontal: trained 30.00 → ") and "L0 spindle input" in row["note"]
    assert row["ours_n"] == "3 trained, 3 untrained instances"
    # every study value comes from deepdraw.study, with its source
    assert study["study_source"].notna().all() and (study["study_source"].str.len() > 10).all()
