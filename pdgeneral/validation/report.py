"""Results on disk and the document made from them: docs/validation/<name>.json -> docs/validation.md.

Each benchmark's result is one JSON file in the results directory, next to its figures
(``<name>-*.png``). The document is rebuilt from every JSON there, in the order of ``MODULES``, so
running one benchmark refreshes its own section and leaves the others as they were last recorded.
Figures are stored in the JSON as paths relative to the document, which lives in the results
directory's parent (docs/validation.md next to docs/validation/).

Runs in another precision than float64 (``pdgeneral validate --precision float32``) keep their JSON
and figures in a folder of that name inside the results directory (docs/validation/float32/), so
they never replace the float64 ones. Each such JSON also holds the float64 checks of the same
benchmark at the same resolution (its ``reference``), and the document ends with a section per
precision that sets the two side by side. A hand-written ``<name>.md`` in that folder (the cause of a
check that passes in float64 and fails in float32, say) is copied into the benchmark's part of it.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import subprocess
import tempfile
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import PdgeneralError
from . import MODULES, benchmarks
from .core import FLOAT32_TOLERANCE, PRECISIONS, RESOLUTIONS, Check, Result

#: Written into every JSON, so that an old file read by a newer reader is recognisable.
FORMAT = 1

#: The shipped case files (the repository's cases/ folder), which the benchmarks build on.
CASES = Path(__file__).resolve().parents[2] / "cases"

#: Figures stay small in the repository: about 100 dpi.
FIGURE_DPI = 100

_PREAMBLE = """\
Every benchmark of the validation suite, run against its published or analytical answer. This file
is generated: `make validate` (or `pdgeneral validate`) re-runs the suite at full resolution and
rewrites it from the results in [validation/](validation/) (one JSON per benchmark, with its figures);
`pdgeneral validate --only NAME` refreshes one section. The test suite runs each benchmark at a
reduced resolution (`--resolution ci`) and asserts the same checks.
"""


def hardware(backend: str) -> str:
    """What ran the benchmark: the GPU's name for cuda, else the CPU model and the thread count."""
    if backend == "cuda":
        try:
            from numba import cuda
            name = cuda.get_current_device().name
            return name.decode() if isinstance(name, bytes) else str(name)
        except Exception:  # noqa: BLE001 - the simulator or a broken driver: say so rather than fail the report
            return "CUDA device (name unavailable)"
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    threads = ""
    if backend == "parallel":
        import numba
        threads = f", {numba.config.NUMBA_NUM_THREADS} threads"
    return f"{model} ({os.cpu_count()} cores{threads})"


def _commit() -> str:
    """The git commit the code was run from (``+`` when the working tree had changes), or ''."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10, check=False)
        if head.returncode != 0:
            return ""
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "pdgeneral"],
                               cwd=root, capture_output=True, text=True, timeout=10, check=False)
        return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def save_figure(figure, directory: Path, name: str, label: str) -> Path:
    """Save a matplotlib figure as ``<directory>/<name>-<label>.png`` (100 dpi), close it, return the path."""
    import matplotlib.pyplot as plt
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-{label}.png"
    figure.savefig(path, dpi=FIGURE_DPI, bbox_inches="tight")
    plt.close(figure)
    return path


def _figure_in(directory: Path, name: str, figure: Path) -> Path:
    """The figure's place in ``directory``; a figure drawn elsewhere is copied in as ``<name>-<file>``."""
    figure = Path(figure)
    if figure.resolve().parent == directory.resolve():
        return figure
    target = directory / (figure.name if figure.name.startswith(f"{name}-") else f"{name}-{figure.name}")
    shutil.copyfile(figure, target)
    return target


def results_directory(directory: Path, precision: str) -> Path:
    """Where results of ``precision`` go: ``directory`` itself for float64, else its folder
    ``<precision>``."""
    directory = Path(directory)
    return directory if precision == PRECISIONS[0] else directory / precision


def _record(result: Result, figures: list[str], date: str | None, hardware_name: str | None) -> dict:
    """The JSON record of ``result``, with ``figures`` given relative to the document."""
    return {
        "format": FORMAT,
        "name": result.name,
        "title": result.title,
        "source": result.source,
        "setup": result.setup,
        "resolution": result.resolution,
        "backend": result.backend,
        "particles": int(result.particles),
        "steps": int(result.steps),
        "wall_seconds": float(result.wall_seconds),
        "precision": result.precision,
        "passed": result.passed,
        "checks": [{"name": c.name, "expected": c.expected, "obtained": c.obtained,
                    "passed": bool(c.passed), "note": c.note} for c in result.checks],
        "figures": figures,
        "notes": result.notes,
        "hardware": hardware_name if hardware_name is not None else hardware(result.backend),
        "date": date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
    }


#: What a result's record keeps of its float64 reference: enough for the comparison table and its
#: provenance line (the reference's figures and text are the float64 section's, or were not kept).
_REFERENCE_KEYS = ("precision", "resolution", "backend", "particles", "steps", "wall_seconds", "passed",
                   "checks", "hardware", "date", "commit")


def save_result(result: Result, directory: Path, *, date: str | None = None,
                hardware_name: str | None = None, root: Path | None = None,
                reference: dict | None = None) -> Path:
    """Write ``<directory>/<result.name>.json``; returns its path.

    Besides the Result's fields the file records the precision, the hardware (from
    ``result.backend``), the date (UTC, ISO 8601) and the git commit, which the document shows.
    ``root`` is the document's folder, which figure paths are relative to (by default the
    directory's parent); ``reference`` is the float64 record the result is compared with.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    root = Path(root) if root is not None else directory.parent
    figures = [_figure_in(directory, result.name, f) for f in result.figures]
    relative = [Path(os.path.relpath(f.resolve(), root.resolve())).as_posix() for f in figures]
    record = _record(result, relative, date, hardware_name)
    if reference is not None:
        record["reference"] = {key: reference[key] for key in _REFERENCE_KEYS if key in reference}
    path = directory / f"{result.name}.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n")
    temporary.replace(path)
    return path


def _result_of(record: dict, root: Path) -> Result:
    return Result(
        name=record["name"], title=record["title"], source=record["source"], setup=record["setup"],
        resolution=record["resolution"], backend=record["backend"], particles=record["particles"],
        steps=record["steps"], wall_seconds=record["wall_seconds"],
        checks=[Check(**c) for c in record["checks"]],
        figures=[root / f for f in record["figures"]],
        notes=record.get("notes", ""),
        # records written before precision existed are float64 runs
        precision=record.get("precision", PRECISIONS[0]))


def _order(name: str) -> tuple[int, str]:
    """Document order: the order of MODULES, then anything else by name."""
    return (MODULES.index(name), "") if name in MODULES else (len(MODULES), name)


def _records(directory: Path) -> list[dict]:
    directory = Path(directory)
    records = []
    for path in sorted(directory.glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise PdgeneralError(f"{path}: not a valid result file ({err})") from err
        records.append(record)
    return sorted(records, key=lambda r: _order(r["name"]))


def load_results(directory: Path, root: Path | None = None) -> list[Result]:
    """Every result saved in ``directory``, in document order; figures as paths on disk (``root``:
    the folder they are relative to, by default the directory's parent)."""
    directory = Path(directory)
    return [_result_of(r, Path(root) if root is not None else directory.parent) for r in _records(directory)]


def _cell(text: object) -> str:
    """Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _verdict(passed: bool) -> str:
    return "pass" if passed else "**FAIL**"


def _anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    kept = "".join(ch for ch in title.lower() if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")


def render(records: list[dict], document: Path, directory: Path) -> str:
    """The Markdown text of the document for these result records."""
    document, directory = Path(document), Path(directory)
    lines = ["# Validation", "", _PREAMBLE.rstrip(), ""]
    if not records:
        lines += ["No results recorded yet.", ""]
        return "\n".join(lines)
    lines += ["| benchmark | resolution | backend | result | checks | wall time |",
              "| --- | --- | --- | --- | --- | --- |"]
    for r in records:
        passed = sum(1 for c in r["checks"] if c["passed"])
        ok = bool(r["checks"]) and passed == len(r["checks"])
        lines.append(f"| [{_cell(r['title'])}](#{_anchor(r['title'])}) | {r['resolution']} | {r['backend']} "
                     f"| {_verdict(ok)} | {passed}/{len(r['checks'])} | {r['wall_seconds']:.1f} s |")
    lines.append("")
    for r in records:
        lines += [f"## {r['title']}", "",
                  f"`{r['name']}`, resolution `{r['resolution']}`. Source: {r['source']}", "",
                  r["setup"].strip(), "",
                  "| check | expected | obtained | result | note |",
                  "| --- | --- | --- | --- | --- |"]
        for c in r["checks"]:
            lines.append(f"| {_cell(c['name'])} | {_cell(c['expected'])} | {_cell(c['obtained'])} "
                         f"| {_verdict(c['passed'])} | {_cell(c['note'])} |")
        if not r["checks"]:
            lines.append("| (no checks recorded) | | | **FAIL** | a result without checks does not pass |")
        lines.append("")
        for figure in r["figures"]:
            target = Path(os.path.relpath(directory.parent / figure, document.parent)).as_posix()
            lines += [f"![{' '.join(r['title'].split())}: {Path(figure).stem}]({target})", ""]
        if r.get("notes", "").strip():
            lines += [r["notes"].strip(), ""]
        commit = f", commit `{r['commit']}`" if r.get("commit") else ""
        machine = r.get("hardware", "hardware not recorded")
        lines += [(f"*{r['particles']:,} particles, {r['steps']:,} steps, "
                   f"{r['wall_seconds']:.1f} s wall time on the `{r['backend']}` backend ({machine}), "
                   f"{r.get('date', 'date not recorded')}{commit}.*"), ""]
    return "\n".join(lines)


_PRECISION_PREAMBLE = """\
`pdgeneral validate --precision {precision}` runs each benchmark with the case key `precision:
{precision}` (every backend then computes in {precision}: [theory.md](theory.md) sec. 10) and sets its
checks beside float64 at the same resolution: the float64 result above where it was run at that
resolution, else a float64 run made together with the {precision} one. Results and figures:
[{folder}/]({folder}/). Where a check passes in float64 and fails in {precision}, its part below
gives the measured deviation and its cause. Wall times include compiling the kernels where the
kernel cache did not hold them yet, and whatever else the machine ran meanwhile, so they say little
about the speed of either precision ([performance.md](performance.md) does).

One set-up differs: the quasi-static runs (the plate, the block, the bar's strip modulus) relax to
a relative residual of at least {floor} in float32 instead of their float64 tolerance (1e-6 for the
plate, 1e-7 for the strip), the smallest that float32's force sums reach (docs/case-reference.md,
"backend, precision"). Asked for 1e-6, the plate's float32 relaxation at ci resolution stalls at a
residual of 1.9e-6 to 2.7e-6 and runs to its 100,000 iterations (100.7 s instead of 16.2 s), every
check passing within one unit in the last digit shown of float64's.
"""


def _provenance(record: dict) -> str:
    """'N steps, W s on the `B` backend (hardware), date, commit `C`'."""
    commit = f", commit `{record['commit']}`" if record.get("commit") else ""
    return (f"{record['steps']:,} steps, {record['wall_seconds']:.1f} s on the `{record['backend']}` backend "
            f"({record.get('hardware', 'hardware not recorded')}), "
            f"{record.get('date', 'date not recorded')}{commit}")


def _tally(record: dict | None) -> str:
    if record is None:
        return "(not run)"
    passed = sum(1 for c in record["checks"] if c["passed"])
    ok = bool(record["checks"]) and passed == len(record["checks"])
    return f"{_verdict(ok)} {passed}/{len(record['checks'])}"


def render_precision(records: list[dict], precision: str, document: Path, directory: Path) -> str:
    """The document's section for ``precision``: each result of that precision (``records``, read
    from ``results_directory(directory, precision)``) check by check beside its float64 reference."""
    document, directory = Path(document), Path(directory)
    folder = results_directory(directory, precision)
    link = Path(os.path.relpath(folder, document.parent)).as_posix()
    # 1e-5, not Python's 1e-05
    floor = f"{FLOAT32_TOLERANCE:.0e}".replace("e-0", "e-")
    preamble = _PRECISION_PREAMBLE.format(precision=precision, folder=link, floor=floor)
    lines = [f"## {precision}", "", preamble.rstrip(), "",
             f"| benchmark | resolution | float64 | {precision} | wall time float64 / {precision} |",
             "| --- | --- | --- | --- | --- |"]
    for r in records:
        reference = r.get("reference")
        walls = (f"{reference['wall_seconds']:.1f} s" if reference else "-") + f" / {r['wall_seconds']:.1f} s"
        lines.append(f"| [{_cell(r['title'])}](#{_anchor(precision + ': ' + r['title'])}) | {r['resolution']} "
                     f"| {_tally(reference)} | {_tally(r)} | {walls} |")
    lines.append("")
    for r in records:
        reference = r.get("reference")
        by_name = {c["name"]: c for c in (reference or {}).get("checks", [])}
        lines += [f"### {precision}: {r['title']}", "",
                  f"`{r['name']}`, resolution `{r['resolution']}`, {r['particles']:,} particles. "
                  f"{precision}: {_provenance(r)}. "
                  + (f"float64: {_provenance(reference)}." if reference
                     else "float64: no result at this resolution was recorded with it."),
                  "",
                  f"| check | expected | float64 | {precision} | result float64 / {precision} |",
                  "| --- | --- | --- | --- | --- |"]
        worse = []
        for c in r["checks"]:
            ref = by_name.pop(c["name"], None)
            if ref is not None and ref["passed"] and not c["passed"]:
                worse.append(c["name"])
            lines.append(f"| {_cell(c['name'])} | {_cell(c['expected'])} "
                         f"| {_cell(ref['obtained']) if ref else '(no such check)'} | {_cell(c['obtained'])} "
                         f"| {_verdict(ref['passed']) if ref else '-'} / {_verdict(c['passed'])} |")
        for ref in by_name.values():   # a check the float64 run made and this one did not
            lines.append(f"| {_cell(ref['name'])} | {_cell(ref['expected'])} | {_cell(ref['obtained'])} "
                         f"| (no such check) | {_verdict(ref['passed'])} / **FAIL** |")
            worse.append(ref["name"])
        lines.append("")
        explanation = folder / f"{r['name']}.md"
        if worse:
            lines += [f"Passes in float64, fails in {precision}: " + "; ".join(_cell(n) for n in worse) + "."
                      + ("" if explanation.exists() else
                         f" (Its cause is not recorded yet: {link}/{r['name']}.md is copied here.)"), ""]
        elif reference is not None:
            lines += [f"Every check that passes in float64 passes in {precision}.", ""]
        if explanation.exists():
            lines += [explanation.read_text().strip(), ""]
        if r["figures"]:
            shown = [Path(os.path.relpath(directory.parent / f, document.parent)).as_posix() for f in r["figures"]]
            lines += [f"Figures ({precision}): " + ", ".join(f"[{Path(f).stem}]({f})" for f in shown) + ".", ""]
    return "\n".join(lines)


def write_document(directory: Path, document: Path) -> None:
    """Rewrite ``document`` from every result JSON in ``directory``, in the order of MODULES, and
    add a section for each other precision that has results (``results_directory``)."""
    directory, document = Path(directory), Path(document)
    text = render(_records(directory), document, directory)
    for precision in PRECISIONS[1:]:
        folder = results_directory(directory, precision)
        records = _records(folder) if folder.is_dir() else []
        if records:
            text = text.rstrip("\n") + "\n\n" + render_precision(records, precision, document, directory)
    document.parent.mkdir(parents=True, exist_ok=True)
    temporary = document.with_name(document.name + ".tmp")
    temporary.write_text(text)
    temporary.replace(document)


def _crashed(benchmark, resolution: str, backend: str, wall: float, error: BaseException,
             precision: str = PRECISIONS[0]) -> Result:
    """A benchmark that raised instead of returning: recorded as a failed check, not hidden."""
    last = traceback.format_exception_only(type(error), error)[-1].strip()
    return Result(name=benchmark.name, title=benchmark.title, source="", setup="(the run did not finish)",
                  resolution=resolution, backend=backend, particles=0, steps=0, wall_seconds=wall,
                  checks=[Check("run completes", "a result", f"error: {last}", False,
                                "the benchmark raised before it could compare anything")],
                  notes="", precision=precision)


def select(names: Iterable[str] | None) -> list:
    """The benchmarks named (all when ``names`` is empty or None), in document order."""
    available = {b.name: b for b in benchmarks()}
    wanted = [n for n in (names or []) if n]
    if not wanted:
        return list(available.values())
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise PdgeneralError(f"--only: unknown benchmark {unknown[0]!r} "
                             f"(choose from {', '.join(available) or 'none'})")
    return [b for b in available.values() if b.name in wanted]


def _run_one(benchmark, resolution: str, workdir: Path, backend: str, precision: str) -> Result:
    """Run one benchmark in ``precision``; one that raises is recorded as failed (with the error)."""
    import time as clock
    started = clock.perf_counter()
    # float64 keeps the call of benchmarks written before precision existed (run(resolution, workdir,
    # backend)); one that does not take ``precision`` then fails a float32 run instead of running float64.
    extra = {} if precision == PRECISIONS[0] else {"precision": precision}
    try:
        result = benchmark.run(resolution, workdir, backend, **extra)
    except Exception as error:  # noqa: BLE001 - one broken benchmark must not hide the others' results
        traceback.print_exc()
        return _crashed(benchmark, resolution, backend, clock.perf_counter() - started, error, precision)
    result.precision = precision
    return result


def _reference(benchmark, resolution: str, backend: str, directory: Path,
               report: Callable[[Result], None] | None) -> dict:
    """The float64 record that a run in another precision is compared with: the one in ``directory``
    when it has this resolution and backend, else a float64 run made now (its figures are not kept).
    The backend matters: a benchmark may choose its runs by backend (kalthoff_winkler's 3D lattice)."""
    recorded = Path(directory) / f"{benchmark.name}.json"
    if recorded.exists():
        record = json.loads(recorded.read_text())
        if (record["resolution"], record["backend"], record.get("precision", PRECISIONS[0])) == (
                resolution, backend, PRECISIONS[0]):
            return record
    with tempfile.TemporaryDirectory(prefix=f"pdgeneral-{benchmark.name}-float64-") as scratch:
        result = _run_one(benchmark, resolution, Path(scratch), backend, PRECISIONS[0])
    if report is not None:
        report(result)
    return _record(result, [], None, None)


def run_benchmarks(names: Iterable[str] | None, resolution: str, backend: str, directory: Path,
                   document: Path, report: Callable[[Result], None] | None = None,
                   precision: str = PRECISIONS[0]) -> list[Result]:
    """Run the named benchmarks (all when empty) in ``precision``, save each result and rewrite the
    document; returns the results of that precision.

    The document is rewritten after every benchmark, so a long suite stopped half-way keeps what it
    finished. A benchmark that raises is recorded as failed (with the error) and the suite goes on.
    In a precision other than float64 each result goes to ``results_directory(directory, precision)``
    with its float64 reference at the same resolution (``_reference``: the recorded one, or a run
    made now, which ``report`` also sees).
    """
    from .. import backends
    if resolution not in RESOLUTIONS:
        raise PdgeneralError(f"--resolution: unknown resolution {resolution!r} "
                             f"(choose from {', '.join(RESOLUTIONS)})")
    if precision not in PRECISIONS:
        raise PdgeneralError(f"--precision: unknown precision {precision!r} "
                             f"(choose from {', '.join(PRECISIONS)})")
    chosen = select(names)
    backend = backends.resolve(backend, key="--backend")
    directory, document = Path(directory), Path(document)
    target = results_directory(directory, precision)
    target.mkdir(parents=True, exist_ok=True)
    results = []
    for benchmark in chosen:
        reference = None
        if precision != PRECISIONS[0]:
            reference = _reference(benchmark, resolution, backend, directory, report)
        result = _run_one(benchmark, resolution, target, backend, precision)
        save_result(result, target, root=directory.parent, reference=reference)
        write_document(directory, document)
        results.append(result)
        if report is not None:
            report(result)
    return results
