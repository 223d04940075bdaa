"""``python -m lgl_spl.report RUNS_DIR [RUNS_DIR ...] --out OUT_DIR``: tables and figures.

Finds every run workdir below the given directories, groups the seeds of each method
(per setting and condition: label noise, budget), and writes into OUT_DIR: table.md,
table.csv, summary.json (with Welch's test, the exact rank test, Holm's and
Benjamini–Hochberg's corrections against ``random``), findings.md, runs.json (what the
figures plot), peak.md, accounting.md (steps and wall time to reach random's final and
peak accuracy, random at equal compute), curves.png, and where runs have the data
selection.md and rounds.png (rounds.jsonl), embedding.md (the embedding's k-NN accuracy),
tsne.png, lgl_similarity.md and toy_loss.png.

``python -m lgl_spl.report --from-summary OUT_DIR/summary.json --out OUT_DIR`` renders the
tables, statistics and findings again from a committed summary alone, and the figures
too where a runs.json lies beside it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from lgl_spl.report.findings import write_findings
from lgl_spl.report.plots import BANDS, plot_curves, plot_rounds, plot_toy_loss
from lgl_spl.report.portable import read_runs_json, write_runs_json
from lgl_spl.report.rows import summarize
from lgl_spl.report.runs import group_runs, load_run, load_runs
from lgl_spl.report.similarity import lgl_similarity, write_similarity
from lgl_spl.report.summary import read_summary, rows_from_summary
from lgl_spl.report.table import markdown_table, write_table
from lgl_spl.report.trajectory_tables import write_trajectories
from lgl_spl.report.tsne import plot_tsne, tsne_run


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lgl_spl.report",
        description="Tabulate and plot lgl_spl runs (one workdir per run, seeds averaged).",
    )
    p.add_argument("runs_dirs", nargs="*", metavar="RUNS_DIR", help="searched recursively")
    p.add_argument("--out", required=True, metavar="OUT_DIR", help="created if missing")
    p.add_argument("--title", default=None, help='e.g. "Fashion-MNIST" (tables and figures)')
    p.add_argument(
        "--from-summary",
        default=None,
        metavar="SUMMARY_JSON",
        help="instead of RUNS_DIR: render the tables, statistics and findings again from a "
        "report's summary.json (and the figures from the runs.json beside it, if any)",
    )
    p.add_argument(
        "--seed-rule",
        default=None,
        metavar="TEXT",
        help="how many seeds each block runs, as the launch script declared it before the "
        "runs (stated in table.md and findings.md; --from-summary keeps the summary's)",
    )
    p.add_argument(
        "--note",
        default=None,
        metavar="TEXT",
        help="a paragraph for the top of table.md and findings.md (--from-summary keeps "
        "the summary's)",
    )
    p.add_argument(
        "--label-suffix",
        nargs="+",
        default=None,
        metavar="SUFFIX",
        help="appended to the method labels of each RUNS_DIR's runs (one per RUNS_DIR, "
        "or one for all), to compare sweeps of the same methods side by side",
    )
    p.add_argument(
        "--include-unfinished",
        action="store_true",
        help="keep runs that have not reached train.num_steps (flagged in the table) "
        "instead of ignoring them",
    )
    p.add_argument("--band", choices=BANDS, default="minmax", help="shaded band of the curves")
    p.add_argument("--tsne-run", default=None, metavar="PATH", help="advise workdir to plot")
    p.add_argument("--tsne-points", type=int, default=1000, help="at most this many per panel")
    p.add_argument("--tsne-panels", type=int, default=4, help="snapshots shown (first … last)")
    # 500 iterations settle 1,000 points well enough for a picture at half sklearn's cost.
    p.add_argument("--tsne-iters", type=int, default=500, help="t-SNE iterations (≥ 250)")
    p.add_argument(
        "--tsne-threads",
        type=int,
        default=1,
        help="CPU threads for t-SNE (0: no cap; more only help on an idle machine)",
    )
    p.add_argument(
        "--toy-loss-key",
        default="train_loss",
        help="metrics key plotted in toy_loss.png (train_loss: on the examples trained on)",
    )
    p.add_argument("-k", "--similar-k", type=int, default=3, help="classes per side of Table 2")
    return p


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run the report; returns the exit code (0 on success)."""
    args = _parser().parse_args(argv)
    if args.from_summary:
        if args.runs_dirs:
            return _error("give RUNS_DIR or --from-summary, not both")
        return _from_summary(args)
    if not args.runs_dirs:
        return _error("give at least one RUNS_DIR (or --from-summary SUMMARY_JSON)")
    for d in args.runs_dirs:
        if not os.path.isdir(d):
            return _error(f"run directory {d!r} does not exist")
    suffixes = args.label_suffix
    if suffixes is not None:
        if len(suffixes) == 1:
            suffixes = suffixes * len(args.runs_dirs)
        elif len(suffixes) != len(args.runs_dirs):
            return _error(
                f"--label-suffix takes one value or one per RUNS_DIR "
                f"({len(args.runs_dirs)}), got {len(suffixes)}"
            )
    if args.tsne_iters < 250:
        return _error(f"--tsne-iters must be at least 250 (scikit-learn), got {args.tsne_iters}")
    if args.tsne_panels < 1:
        return _error(f"--tsne-panels must be at least 1, got {args.tsne_panels}")
    if args.tsne_points < 5:
        return _error(f"--tsne-points must be at least 5, got {args.tsne_points}")
    if args.tsne_run and not os.path.isdir(args.tsne_run):
        return _error(f"--tsne-run {args.tsne_run!r} is not a directory")
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        return _error(f"cannot create the output directory {args.out!r}: {e.strerror}")

    t0 = time.time()

    def say(message: str) -> None:
        print(message, flush=True)

    say(f"reading runs below {', '.join(args.runs_dirs)}")
    runs = load_runs(args.runs_dirs, suffixes=suffixes, include_unfinished=args.include_unfinished)
    if not runs:
        kind = "" if args.include_unfinished else "finished "
        print(f"error: no {kind}runs found below {', '.join(args.runs_dirs)}", file=sys.stderr)
        return 1
    groups = group_runs(runs)
    say(f"{len(runs)} runs in {len(groups)} groups")
    for g in groups:
        seeds = ", ".join(str(r.seed) for r in g.runs)
        where = " · ".join([g.dataset, g.setting] + ([g.condition_label] if g.condition else []))
        say(f"  {where} · {g.label}: seeds {seeds}")

    rows = summarize(groups)
    written = _tables(rows, args, args.title, args.seed_rule, args.note, say)
    root = os.path.commonpath([os.path.abspath(d) for d in args.runs_dirs])
    written.append(write_runs_json(runs, os.path.join(args.out, "runs.json"), root=root))
    written += _figures(runs, groups, args, args.title, say)
    say(
        f"wrote {', '.join(os.path.basename(p) for p in written if p)} to {args.out} "
        f"in {time.time() - t0:.1f} s"
    )
    return 0


def _tables(rows, args, title, seed_rule, note, say) -> list[str]:
    written = write_table(rows, args.out, title=title, seed_rule=seed_rule, note=note)
    say(markdown_table(rows))
    more = write_trajectories(rows, args.out, title=title)
    written += more
    names = {os.path.basename(p) for p in more}
    for name, why in (
        ("accounting.md", "no row has a `random` to reach (or the summary predates it)"),
        ("selection.md", "no run has rounds.jsonl"),
        ("embedding.md", "no run logged embed_knn_accuracy"),
    ):
        if name not in names:
            say(f"note: {why}; {name} skipped")
    written.append(write_findings(rows, args.out, title=title, seed_rule=seed_rule, note=note))
    return written


def _from_summary(args) -> int:
    """Tables, statistics and findings from a summary.json; figures from runs.json."""
    t0 = time.time()
    try:
        summary = read_summary(args.from_summary)
        rows = rows_from_summary(summary)
    except (ValueError, KeyError, TypeError) as e:
        detail = f"missing field {e}" if isinstance(e, KeyError) else str(e)
        return _error(f"cannot render {args.from_summary!r}: {detail}")
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        return _error(f"cannot create the output directory {args.out!r}: {e.strerror}")

    def say(message: str) -> None:
        print(message, flush=True)

    title = args.title or summary.get("title")
    seed_rule = args.seed_rule or summary.get("seed_rule")
    note = args.note or summary.get("note")
    say(f"{len(rows)} rows from {args.from_summary}")
    written = _tables(rows, args, title, seed_rule, note, say)
    portable = os.path.join(os.path.dirname(args.from_summary), "runs.json")
    if os.path.isfile(portable):
        try:
            runs = read_runs_json(portable)
        except ValueError as e:
            return _error(str(e))
        groups = group_runs(runs)
        say(f"{len(runs)} runs in {len(groups)} groups from {portable}")
        if os.path.realpath(portable) != os.path.realpath(os.path.join(args.out, "runs.json")):
            written.append(write_runs_json(runs, os.path.join(args.out, "runs.json")))
        written += _figures(runs, groups, args, title, say, tsne=False)
    else:
        say(f"note: no runs.json beside {args.from_summary}; figures left as they are")
    say(
        f"wrote {', '.join(os.path.basename(p) for p in written if p)} to {args.out} "
        f"in {time.time() - t0:.1f} s"
    )
    return 0


def _figures(runs, groups, args, title, say, *, tsne: bool = True) -> list[str]:
    """curves.png, rounds.png, tsne.png, lgl_similarity.md and toy_loss.png."""
    written = []
    say("plotting test accuracy curves")
    written.append(
        plot_curves(groups, os.path.join(args.out, "curves.png"), title=title, band=args.band)
    )
    rounds = plot_rounds(groups, os.path.join(args.out, "rounds.png"), title=title, band=args.band)
    if rounds:
        written.append(rounds)
    else:
        say("note: no run has rounds.jsonl; rounds.png skipped")

    run = None
    if tsne:
        run = load_run(args.tsne_run) if args.tsne_run else tsne_run(runs)
    if not tsne:
        say("note: runs.json keeps no embedding snapshots; tsne.png left as it is")
    elif run is None or not run.snapshots:
        where = args.tsne_run or "any advise run"
        say(f"note: no embedding snapshots in {where}; tsne.png skipped")
    else:
        say(f"t-SNE of {run.path} ({len(run.snapshots)} snapshots)")
        written.append(
            plot_tsne(
                run,
                os.path.join(args.out, "tsne.png"),
                panels=args.tsne_panels,
                max_points=args.tsne_points,
                max_iter=args.tsne_iters,
                threads=args.tsne_threads or None,
                title=title,
                log=say,
            )
        )

    entries = lgl_similarity(runs, k=args.similar_k)
    if entries:
        path = os.path.join(args.out, "lgl_similarity.md")
        written.append(write_similarity(entries, path, k=args.similar_k, title=title))
        say(f"LGL class similarity: {len(entries)} stages")
    else:
        say(
            "note: no LGL run with class_entropies (order dissimilar/similar); "
            "lgl_similarity.md skipped"
        )

    toy = plot_toy_loss(
        groups,
        os.path.join(args.out, "toy_loss.png"),
        title=title,
        band=args.band,
        key=args.toy_loss_key,
    )
    if toy:
        written.append(toy)
    else:
        say("note: no toy runs; toy_loss.png skipped")
    return written
