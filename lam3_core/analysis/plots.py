"""The report's plots, as PNG bytes: ASR per attack with intervals, judge agreement, score distributions, ROC curves.

matplotlib is imported inside each function (``lam3 --help`` must not pay for it), and figures
are drawn on their own Agg canvas, never through pyplot's global state. Labels come from the
data (attack, judge and metric names), so mathtext is off: a ``$`` is a dollar sign, not LaTeX.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

WIDTH_IN = 7.0
DPI = 100
LABEL_CHARS = 40


def _label(text: object) -> str:
    text = str(text)
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


@contextmanager
def _figure(height_in: float) -> Iterator:
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"text.parse_math": False, "font.size": 9}):
        figure = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        yield figure


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _error_bars(rates: Sequence[Mapping]) -> list[list[float]]:
    """matplotlib's (below, above) distances of each interval from its value; never negative (an interval
    computed in floating point may end a hair inside its value)."""
    return [[max(0.0, r["value"] - r["ci_low"]) for r in rates], [max(0.0, r["ci_high"] - r["value"]) for r in rates]]


def asr_by_attack(overall: Mapping | None, by_attack: Mapping[str, Mapping]) -> bytes | None:
    """Horizontal points with 95% intervals: every attack, and all attacks together; None when no rate is defined."""
    rows = [(name, r) for name, r in by_attack.items() if r and r.get("value") is not None]
    if overall and overall.get("value") is not None and len(rows) > 1:
        rows.append(("all attacks", overall))
    if not rows:
        return None
    with _figure(1.0 + 0.35 * len(rows)) as figure:
        ax = figure.add_subplot()
        ys = list(range(len(rows)))[::-1]
        values = [r["value"] for _, r in rows]
        ax.errorbar(values, ys, xerr=_error_bars([r for _, r in rows]), fmt="o", color="#b03a2e", ecolor="#555555",
                    capsize=3)
        ax.set_yticks(ys, [f"{_label(name)} (n={r['n']})" for name, r in rows])
        ax.set_xlim(-0.02, 1.02)
        ax.set_xlabel("attack success rate (95% CI)")
        ax.grid(axis="x", alpha=0.3)
        return _png(figure)


def asr_comparison(by_attack: Mapping[str, Mapping[str, Mapping | None]], labels: Sequence[str]) -> bytes | None:
    """ASR per attack with 95% intervals, one colour per run (``by_attack[attack][run]`` is a rate or None)."""
    attacks = [a for a, cells in by_attack.items() if any(r and r.get("value") is not None for r in cells.values())]
    if not attacks:
        return None
    step = 0.7 / max(1, len(labels))
    with _figure(1.2 + 0.25 * len(attacks) * len(labels)) as figure:
        ax = figure.add_subplot()
        for k, label in enumerate(labels):
            points = [(i, by_attack[a].get(label)) for i, a in enumerate(attacks)]
            points = [(i, r) for i, r in points if r and r.get("value") is not None]
            if not points:
                continue
            ys = [len(attacks) - 1 - i + 0.35 - (k + 0.5) * step for i, _ in points]
            values = [r["value"] for _, r in points]
            ax.errorbar(values, ys, xerr=_error_bars([r for _, r in points]), fmt="o", capsize=3, label=_label(label))
        ax.set_yticks(range(len(attacks)), [_label(a) for a in attacks][::-1])
        ax.set_ylim(-0.5, len(attacks) - 0.5)
        ax.set_xlim(-0.02, 1.02)
        ax.set_xlabel("attack success rate (95% CI)")
        ax.grid(axis="x", alpha=0.3)
        figure.legend(loc="outside lower center", ncols=min(4, len(labels)))
        return _png(figure)


def agreement_heatmap(judges: Sequence[str], kappa: Mapping[str, float | None]) -> bytes | None:
    """Cohen's kappa between every pair of judges (keys "a|b"); an undefined kappa is a grey cell marked n/a."""
    import numpy as np

    if len(judges) < 2:
        return None
    index = {j: i for i, j in enumerate(judges)}
    matrix = np.full((len(judges), len(judges)), np.nan)
    np.fill_diagonal(matrix, 1.0)
    for pair, value in kappa.items():
        a, _, b = pair.partition("|")
        if a in index and b in index and value is not None:
            matrix[index[a], index[b]] = matrix[index[b], index[a]] = value
    size = 1.6 + 0.55 * len(judges)
    with _figure(size) as figure:
        ax = figure.add_subplot()
        cmap = _colormap()
        image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=-1, vmax=1)
        labels = [_label(j) for j in judges]
        ax.set_xticks(range(len(judges)), labels, rotation=30, ha="right")
        ax.set_yticks(range(len(judges)), labels)
        for (i, k), value in np.ndenumerate(matrix):
            dark = not math.isnan(value) and abs(value) > 0.6
            ax.text(k, i, "n/a" if math.isnan(value) else f"{value:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
        figure.colorbar(image, ax=ax, label="Cohen's kappa", shrink=0.8)
        return _png(figure)


def _colormap():
    from matplotlib import colormaps

    return colormaps["RdBu"].with_extremes(bad="#dddddd")


def score_distributions(scores: Mapping[str, Sequence[float]], thresholds: Mapping[str, float | None]) -> bytes | None:
    """One histogram of scores in [0, 1] per judge, with its threshold as a dashed line."""
    judges = [j for j, values in scores.items() if values]
    if not judges:
        return None
    columns = min(3, len(judges))
    rows = math.ceil(len(judges) / columns)
    with _figure(0.6 + 1.9 * rows) as figure:
        axes = figure.subplots(rows, columns, squeeze=False)
        for ax, judge in zip(axes.flat, judges):
            ax.hist(scores[judge], bins=20, range=(0, 1), color="#2e86c1")
            threshold = thresholds.get(judge)
            if threshold is not None:
                ax.axvline(threshold, color="#b03a2e", linestyle="--", linewidth=1)
            ax.set_title(f"{_label(judge)} (n={len(scores[judge])})")
            ax.set_xlim(0, 1)
        for ax in list(axes.flat)[len(judges):]:
            ax.set_visible(False)
        figure.supxlabel("score (dashed: threshold)")
        return _png(figure)


def roc_curves(curves: Mapping[str, tuple[Sequence[float], Sequence[float], float]]) -> bytes | None:
    """ROC of each uncertainty metric detecting wrong answers: ``{metric: (fpr, tpr, auroc)}``."""
    if not curves:
        return None
    with _figure(4.2) as figure:
        ax = figure.add_subplot()
        for metric, (fpr, tpr, auroc) in curves.items():
            ax.plot(fpr, tpr, label=f"{_label(metric)} (AUROC {auroc:.3f})")
        ax.plot([0, 1], [0, 1], color="#999999", linestyle=":", label="chance")
        ax.set_xlabel("false positive rate (right answers flagged)")
        ax.set_ylabel("true positive rate (wrong answers flagged)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(loc="lower right")
        return _png(figure)


def accuracy_rejection(curves: Mapping[str, Sequence[Sequence[float]]]) -> bytes | None:
    """Accuracy of the answers kept against the share rejected as most uncertain, one line per metric."""
    curves = {m: c for m, c in curves.items() if c}
    if not curves:
        return None
    with _figure(3.6) as figure:
        ax = figure.add_subplot()
        for metric, points in curves.items():
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, label=_label(metric))
        ax.set_xlabel("share of answers rejected (most uncertain first)")
        ax.set_ylabel("accuracy of the answers kept")
        ax.set_xlim(0, 1)
        ax.legend(loc="lower right")
        return _png(figure)
