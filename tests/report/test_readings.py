"""The readings of the results cannot drift from the reports they cite.

Every number that docs/results/README.md (its "What the numbers say" and "What the
controls say" parts) and README.md (its results paragraph) quote about results must be
found, at the precision quoted, in the generated files of the reports the paragraph
links: table.md, findings.md, peak.md, accounting.md, selection.md, embedding.md,
lgl_similarity.md. A
part's introduction (before its first bold lead) that links no report is checked against
every report.
Numbers that are not results (a paper's table, a constant) are listed in ``NOT_RESULTS``
with the reason.
"""

from __future__ import annotations

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "docs", "results")
GENERATED = (
    "table.md",
    "findings.md",
    "peak.md",
    "accounting.md",
    "selection.md",
    "embedding.md",
    "lgl_similarity.md",
)
# Quoted numbers that are not read from a report: (number, what it is).
NOT_RESULTS = {
    ("2.30", "ln 10, the loss of a uniform prediction over 10 classes"),
    ("92.96", "LGL's Table 1: SPL_INV on CIFAR-10, VGG-16"),
    ("93.03", "LGL's Table 1: the baseline on CIFAR-10, VGG-16"),
    ("0.07", "LGL's Table 1: 93.03 − 92.96"),
}
SKIP = {n for n, _ in NOT_RESULTS}

# A number, optionally a range (12–14), optionally a unit that marks a result.
NUMBER = re.compile(
    r"(?<![\w.\-/=×])(\d+(?:\.\d+)?)(?:\s*[–-]\s*(\d+(?:\.\d+)?))?(\s*(?:%|points?|pts))?"
)
LINK = re.compile(r"\]\(((?:docs/results/)?(?:controls/)?[\w/]+/)\)")


def _numbers(text: str) -> list[str]:
    """The quoted result numbers of ``text``: decimals, and integers given in % or points;
    code spans, links and config names are left out."""
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    found = []
    for m in NUMBER.finditer(text):
        first, second, unit = m.groups()
        for n in (first, second):
            if n is not None and ("." in n or unit):
                found.append(n)
    return found


def _values(folders: list[str]) -> list[float]:
    values = []
    for folder in folders:
        for name in GENERATED:
            path = os.path.join(RESULTS, folder, name)
            if os.path.isfile(path):
                with open(path) as f:
                    values += [float(x) for x in re.findall(r"\d+\.\d+|\d+", f.read())]
    return values


def _found(number: str, values: list[float]) -> bool:
    decimals = len(number.partition(".")[2])
    q = float(number)
    tolerance = 0.5 * 10**-decimals + 1e-9
    return any(abs(abs(v) - q) <= tolerance for v in values)


def _sections(text: str, start: str, stop_level: int) -> list[tuple[str, str]]:
    """Paragraph groups under the heading ``start``: each begins at a bold lead
    (``**…**``) and runs to the next; (first line, text)."""
    lines = text.splitlines()
    begin = lines.index(start) + 1
    end = next(
        (
            i
            for i in range(begin, len(lines))
            if lines[i].startswith("#") and len(lines[i]) - len(lines[i].lstrip("#")) <= stop_level
        ),
        len(lines),
    )
    sections: list[list[str]] = []
    for line in lines[begin:end]:
        if line.startswith("**") or not sections:
            sections.append([])
        sections[-1].append(line)
    return [(s[0], "\n".join(s)) for s in sections if "".join(s).strip()]


def _cases():
    with open(os.path.join(RESULTS, "README.md")) as f:
        readme = f.read()
    every = sorted(
        os.path.relpath(d, RESULTS) for d, _, files in os.walk(RESULTS) if "summary.json" in files
    )
    cases = []
    for heading, level in (("## What the numbers say", 2), ("### What the controls say", 3)):
        for first, text in _sections(readme, heading, level):
            folders = sorted({m.removeprefix("docs/results/") for m in LINK.findall(text)})
            if not folders and not first.startswith("**"):
                folders = every  # the introduction
            name = first.strip()[:50] or text.strip()[:50]
            cases.append((f"docs/results/README.md: {name}", text, folders))
    with open(os.path.join(ROOT, "README.md")) as f:
        main = f.read()
    (paragraph,) = [p for p in main.split("\n\n") if p.startswith("Our CPU results are in")]
    cases.append(("README.md: results paragraph", paragraph, every))
    return cases


CASES = _cases()


@pytest.mark.parametrize("where, text, folders", CASES, ids=[c[0] for c in CASES])
def test_every_quoted_number_is_in_the_reports_cited(where, text, folders):
    assert folders, f"{where}: the paragraph links no report folder to check it against"
    for folder in folders:
        assert os.path.isfile(os.path.join(RESULTS, folder, "findings.md")), folder
    values = _values(folders)
    missing = [n for n in _numbers(text) if n not in SKIP and not _found(n, values)]
    assert not missing, f"{where}: not in {', '.join(folders)}: {missing}"


def test_the_checker_finds_a_drifted_number():
    values = _values(["controls/cifar10/noise"])
    assert _found("6.4", values) and _found("0.096", values) and _found("45.1", values)
    assert _found("0.37", [0.366]) and not _found("0.38", [0.366]) and not _found("6.5", [6.41])
    assert not _found("0.003", [0.0036]) and _found("13.6", [-13.58])
    assert _numbers("capped `spl` +3.1 (p = 0.096), 12–14 points, 5 seeds, 45 %") == [
        "3.1",
        "0.096",
        "12",
        "14",
        "45",
    ]
