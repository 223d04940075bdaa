"""SPL-ADVisE Fig. 2: t-SNE of the embedding net's representation as training goes on.

An ``advise`` run saves ``embeddings/step_N.npz`` (``embeddings`` [n, d], ``labels`` [n],
``student_step``, ``embed_steps``) for a fixed subset of training examples at each
evaluation; this plots a few of them side by side, coloured by class.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lgl_spl.report.runs import Run


def pick_snapshots(paths: Sequence[str], panels: int = 4) -> list[str]:
    """First, evenly spaced middle ones, last: at most ``panels`` of ``paths``."""
    if not paths:
        return []
    idx = np.unique(np.round(np.linspace(0, len(paths) - 1, min(panels, len(paths)))).astype(int))
    return [paths[i] for i in idx]


def tsne_run(runs: Sequence[Run]) -> Run | None:
    """The first seed of the first ``advise`` run with snapshots (runs in report order)."""
    candidates = [r for r in runs if r.method == "advise" and r.snapshots]
    return min(candidates, key=lambda r: (r.dataset, r.seed, r.path)) if candidates else None


def _load(path: str) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def embed_2d(
    points: np.ndarray, *, seed: int = 0, max_iter: int | None = None, threads: int | None = 1
) -> np.ndarray:
    """2-D t-SNE (scikit-learn, PCA init, fixed ``random_state``).

    ``threads`` caps OpenMP/BLAS threads (None: no cap). One is the default because on
    a small shared CPU the spinning worker threads made t-SNE 3-10× slower, not faster.
    """
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    n = points.shape[0]
    # Perplexity must stay below the number of points; 30 is the usual default.
    kwargs = {"max_iter": max_iter} if max_iter else {}
    tsne = TSNE(
        n_components=2,
        perplexity=float(min(30.0, max(2.0, (n - 1) / 3))),
        init="pca",
        learning_rate="auto",
        random_state=seed,
        **kwargs,
    )
    with threadpool_limits(limits=threads):
        return tsne.fit_transform(np.asarray(points, np.float64))


def plot_tsne(
    run: Run,
    path: str,
    *,
    panels: int = 4,
    max_points: int = 1000,
    seed: int = 0,
    max_iter: int | None = None,
    threads: int | None = 1,
    title: str | None = None,
    log=print,
) -> str | None:
    """A row of t-SNE panels of ``run``'s embedding snapshots; ``path``, or None without
    snapshots. At most ``max_points`` examples (the same ones in every panel)."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    chosen = pick_snapshots(run.snapshots, panels)
    if not chosen:
        return None
    snaps = [_load(p) for p in chosen]
    n = min(len(s["labels"]) for s in snaps)
    # The snapshots hold the same examples in the same order, so one subset serves all.
    keep = np.sort(np.random.default_rng(seed).permutation(n)[: min(n, max_points)])
    names = run.label_names
    num_classes = max(len(names), int(max(s["labels"][:n].max() for s in snaps)) + 1)
    cmap = colormaps["tab10" if num_classes <= 10 else "tab20"]

    def colour(c):
        return cmap(c % cmap.N) if num_classes <= 20 else colormaps["turbo"](c / num_classes)

    fig = Figure(figsize=(4.0 * len(snaps) + 1.8, 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(snaps)))
    for ax, snap, snap_path in zip(axes, snaps, chosen, strict=True):
        log(f"  t-SNE of {snap_path} ({keep.size} points)")
        xy = embed_2d(snap["embeddings"][:n][keep], seed=seed, max_iter=max_iter, threads=threads)
        labels = snap["labels"][:n][keep].astype(int)
        for c in np.unique(labels):
            sel = labels == c
            name = names[c] if c < len(names) else str(c)
            ax.scatter(xy[sel, 0], xy[sel, 1], s=5, color=colour(c), label=name, linewidths=0)
        step = int(snap.get("student_step", -1))
        embed = int(snap.get("embed_steps", -1))
        ax.set_title(f"student update {step}\nembedding step {embed}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if num_classes <= 20:
        legend = {}
        for ax in axes:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                legend.setdefault(label, handle)
        fig.legend(
            legend.values(), legend.keys(), loc="outside right center", fontsize=8, markerscale=2.5
        )
    heading = f"{title}: " if title else ""
    fig.suptitle(f"{heading}t-SNE of the embedding net ({run.label}, seed {run.seed})")
    fig.savefig(path, dpi=120)
    return path
