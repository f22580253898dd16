"""Results on disk and the document made from them: docs/validation/<name>.json -> docs/validation.md.

Each benchmark's result is one JSON file in the results directory, next to its figures
(``<name>-*.png``). The document is rebuilt from every JSON there, in the order of ``MODULES``, so
running one benchmark refreshes its own section and leaves the others as they were last recorded.
Figures are stored in the JSON as paths relative to the document, which lives in the results
directory's parent (docs/validation.md next to docs/validation/).
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import subprocess
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import PdgeneralError
from . import MODULES, benchmarks
from .core import RESOLUTIONS, Check, Result

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


def save_result(result: Result, directory: Path, *, date: str | None = None,
                hardware_name: str | None = None) -> Path:
    """Write ``<directory>/<result.name>.json``; returns its path.

    Besides the Result's fields the file records the hardware (from ``result.backend``), the date
    (UTC, ISO 8601) and the git commit, which the document shows.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    figures = [_figure_in(directory, result.name, f) for f in result.figures]
    record = {
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
        "passed": result.passed,
        "checks": [{"name": c.name, "expected": c.expected, "obtained": c.obtained,
                    "passed": bool(c.passed), "note": c.note} for c in result.checks],
        # relative to the document, which sits in the directory's parent
        "figures": [f"{directory.name}/{f.name}" for f in figures],
        "notes": result.notes,
        "hardware": hardware_name if hardware_name is not None else hardware(result.backend),
        "date": date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
    }
    path = directory / f"{result.name}.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n")
    temporary.replace(path)
    return path


def _result_of(record: dict, directory: Path) -> Result:
    return Result(
        name=record["name"], title=record["title"], source=record["source"], setup=record["setup"],
        resolution=record["resolution"], backend=record["backend"], particles=record["particles"],
        steps=record["steps"], wall_seconds=record["wall_seconds"],
        checks=[Check(**c) for c in record["checks"]],
        figures=[directory.parent / f for f in record["figures"]],
        notes=record.get("notes", ""))


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


def load_results(directory: Path) -> list[Result]:
    """Every result saved in ``directory``, in document order; figures as paths on disk."""
    directory = Path(directory)
    return [_result_of(r, directory) for r in _records(directory)]


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


def write_document(directory: Path, document: Path) -> None:
    """Rewrite ``document`` from every result JSON in ``directory``, in the order of MODULES."""
    directory, document = Path(directory), Path(document)
    text = render(_records(directory), document, directory)
    document.parent.mkdir(parents=True, exist_ok=True)
    temporary = document.with_name(document.name + ".tmp")
    temporary.write_text(text)
    temporary.replace(document)


def _crashed(benchmark, resolution: str, backend: str, wall: float, error: BaseException) -> Result:
    """A benchmark that raised instead of returning: recorded as a failed check, not hidden."""
    last = traceback.format_exception_only(type(error), error)[-1].strip()
    return Result(name=benchmark.name, title=benchmark.title, source="", setup="(the run did not finish)",
                  resolution=resolution, backend=backend, particles=0, steps=0, wall_seconds=wall,
                  checks=[Check("run completes", "a result", f"error: {last}", False,
                                "the benchmark raised before it could compare anything")],
                  notes="")


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


def run_benchmarks(names: Iterable[str] | None, resolution: str, backend: str, directory: Path,
                   document: Path, report: Callable[[Result], None] | None = None) -> list[Result]:
    """Run the named benchmarks (all when empty), save each result and rewrite the document.

    The document is rewritten after every benchmark, so a long suite stopped half-way keeps what it
    finished. A benchmark that raises is recorded as failed (with the error) and the suite goes on.
    """
    import time as clock

    from .. import backends
    if resolution not in RESOLUTIONS:
        raise PdgeneralError(f"--resolution: unknown resolution {resolution!r} "
                             f"(choose from {', '.join(RESOLUTIONS)})")
    chosen = select(names)
    backend = backends.resolve(backend, key="--backend")
    directory, document = Path(directory), Path(document)
    directory.mkdir(parents=True, exist_ok=True)
    results = []
    for benchmark in chosen:
        started = clock.perf_counter()
        try:
            result = benchmark.run(resolution, directory, backend)
        except Exception as error:  # noqa: BLE001 - one broken benchmark must not hide the others' results
            traceback.print_exc()
            result = _crashed(benchmark, resolution, backend, clock.perf_counter() - started, error)
        save_result(result, directory)
        write_document(directory, document)
        results.append(result)
        if report is not None:
            report(result)
    return results
