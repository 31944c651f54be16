"""A training run's plots (ROC and calibration), written as PNG files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sklearn.metrics import roc_curve

from services.scoring.domain.training import Report


def save_plots(curves: dict[str, Any], report: Report, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 5))
    fpr, tpr, _ = roc_curve(curves["y"], curves["p"])
    ax.plot(fpr, tpr, label=f"model (AUC {report.roc_auc:.3f})")
    if curves["truth"] is not None:
        fpr, tpr, _ = roc_curve(curves["y"], curves["truth"])
        ax.plot(fpr, tpr, "--", label=f"true propensity (AUC {report.truth_roc_auc:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(
        xlabel="false positive rate", ylabel="true positive rate", title="ROC on the test period"
    )
    ax.legend(loc="lower right")
    roc = folder / "roc.png"
    fig.savefig(roc, dpi=100, bbox_inches="tight")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(
        [c["predicted"] for c in report.calibration],
        [c["observed"] for c in report.calibration],
        "o-",
        label="model",
    )
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect")
    ax.set(
        xlabel="predicted probability",
        ylabel="observed conversion rate",
        title="Calibration (deciles)",
    )
    ax.legend(loc="upper left")
    calibration = folder / "calibration.png"
    fig.savefig(calibration, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return [roc, calibration]
