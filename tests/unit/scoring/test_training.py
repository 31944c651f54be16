import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.scoring.adapters.plots import save_plots
from services.scoring.domain import training
from services.scoring.domain.scorer import factors, score_many
from tools.simulation.simulate import simulate

END = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def trained() -> tuple[object, training.Report, dict[str, object], list[training.Example]]:
    sim = simulate(3000, seed=21, end=END)
    rows = training.examples(sim.messages, truth=sim.propensity_by_key())
    bundle, report, curves = training.train(rows, version="m-test")
    return bundle, report, curves, rows


def test_rows_never_see_the_conversion_and_are_in_time_order(trained: tuple) -> None:  # type: ignore[type-arg]
    *_, rows = trained
    assert [r.first_seen for r in rows] == sorted(r.first_seen for r in rows)
    assert {r.label for r in rows} == {0, 1}
    assert all(r.p_true is not None for r in rows)
    assert all("Deal Won" not in str(r.features) for r in rows)


def test_the_model_ranks_close_to_the_true_propensity(trained: tuple) -> None:  # type: ignore[type-arg]
    _, report, _, _ = trained
    assert report.truth_roc_auc is not None
    assert report.roc_auc > 0.8
    assert abs(report.roc_auc - report.truth_roc_auc) < 0.08
    assert report.lift_top_decile > 3
    assert 0 < report.brier < report.base_rate  # better than a constant guess
    assert len(report.calibration) == 10


def test_explanations_name_the_factors_that_moved_a_score(trained: tuple) -> None:  # type: ignore[type-arg]
    bundle, _, _, rows = trained
    keen = max(rows, key=lambda r: r.features["high_intent_90d"])
    scores = score_many(bundle, [keen.features])
    found = factors(bundle, scores, 0, keen.features, top=3)
    assert len(found) == 3
    assert abs(found[0].points) >= abs(found[1].points) >= abs(found[2].points)
    assert all(f.text.endswith(f"{f.points:+d}") for f in found)
    assert any("buying intent" in f.text or "pricing" in f.text for f in found)


def test_plots_are_written(trained: tuple, tmp_path: Path) -> None:  # type: ignore[type-arg]
    _, report, curves, _ = trained
    paths = save_plots(curves, report, tmp_path)  # type: ignore[arg-type]
    assert [p.name for p in paths] == ["roc.png", "calibration.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)


def test_the_train_command_saves_model_report_and_plots(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli",
            "scoring",
            "train",
            "--simulated",
            "1500",
            "--out",
            str(tmp_path),
            "--no-register",  # a unit test: no database
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "ROC AUC" in out.stdout
    [folder] = list(tmp_path.iterdir())
    assert {p.name for p in folder.iterdir()} == {
        "model.joblib",
        "report.json",
        "roc.png",
        "calibration.png",
    }
    meta = json.loads((folder / "report.json").read_text())
    assert meta["metrics"]["roc_auc"] > 0.7
