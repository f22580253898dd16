"""Command line: thin click commands over the Python API (pdgeneral.api).

Errors in the user's input become one line on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import functools
import os
import shlex
import sys
import time as clock

import click

from . import __version__
from .errors import PdgeneralError


def _reports_errors(command):
    """Turn PdgeneralError into `error: ...` and exit code 2."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except PdgeneralError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(2)
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pdgeneral")
def main() -> None:
    """Bond-based peridynamics (PMB) fracture simulation on CPUs and NVIDIA GPUs."""


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class _Progress:
    """Progress line with time left and throughput, on a terminal only."""

    def __init__(self, particles: int, enabled: bool):
        self.particles = particles
        self.enabled = enabled and sys.stderr.isatty()
        self.started = clock.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        elapsed = clock.perf_counter() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (total - done) / rate if rate > 0 else 0.0
        width = 30
        filled = int(width * done / max(total, 1))
        bar = "#" * filled + "-" * (width - filled)
        click.echo(f"\r[{bar}] {done}/{total} steps, {left:6.1f} s left, "
                   f"{rate * self.particles:.3g} particle-steps/s", err=True, nl=False)
        if done >= total:
            click.echo("", err=True)


def resume_command(case: str, backend: str | None, output: str | None, steps: int | None,
                   overrides: tuple[str, ...]) -> str:
    """The command that resumes a run: its case, and every option that shapes the run (--set,
    --output, --backend, --steps), quoted so that a shell gives them back as they were."""
    words = ["pdgeneral", "run", case]
    if backend is not None:
        words += ["--backend", backend]
    if output is not None:
        words += ["--output", output]
    if steps is not None:
        words += ["--steps", str(steps)]
    for item in overrides:
        words += ["--set", item]
    return shlex.join(words + ["--resume"])


def _warn(prepared) -> None:
    """One line on stderr per value outside the range of engineering solids and loads."""
    for line in prepared.warnings:
        click.echo(f"warning: {prepared.source}: {line}", err=True)


@main.command()
@click.argument("case", type=click.Path(dir_okay=False))
@click.option("--backend", "-b", default=None, help="auto | serial | parallel | cuda (overrides the case).")
@click.option("--output", "-o", default=None, help="HDF5 output path (overrides output.path).")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Run only this many steps (load steps for quasi_static).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a case key, e.g. --set discretization.spacing=0.25e-3 (repeatable).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--resume", is_flag=True,
              help="Continue the output file from its last complete snapshot.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--summary-json", type=click.Path(dir_okay=False), default=None, hidden=True,
              help="Also write the run's summary as JSON (used by pdgeneral batch).")
@_reports_errors
def run(case, backend, output, steps, overrides, overwrite, resume, quiet, summary_json) -> None:
    """Run CASE (a YAML case file) and write HDF5 snapshots.

    Ctrl-C stops at the next step boundary after writing a snapshot; --resume continues from it."""
    from .api import prepare, run_case
    from .decomposition import launched_ranks
    from .solvers.interrupt import RunInterrupted, RunUnstable
    if resume and overwrite:
        raise PdgeneralError("--resume and --overwrite exclude each other")
    ranks = launched_ranks()
    if ranks is not None:
        count, variable = ranks
        raise PdgeneralError(
            f"{case}: started as {count} MPI processes ({variable}={count}), but pdgeneral does not "
            "divide a run between MPI ranks yet (`pdgeneral check CASE --ranks N` prints the "
            f"decomposition it will use): the {count} processes would each run the whole case and "
            "write the same output. Start one process (on a GPU node, one per GPU through "
            "`pdgeneral batch --gpus`)")
    prepared = prepare(case, overrides, backend)
    _warn(prepared)
    progress = _Progress(prepared.model.particle_count, not quiet)
    try:
        summary = run_case(prepared, output=output, steps=steps, overwrite=overwrite,
                           resume=resume, progress=progress)
    except RunInterrupted as stop:
        saved = f" and saved in {stop.path}" if stop.path else ""
        again = resume_command(case, backend, output, steps, overrides)
        click.echo(f"\ninterrupted at step {stop.step}{saved}; continue with: {again}", err=True)
        sys.exit(130)
    except RunUnstable as failure:
        click.echo(f"\nerror: {case}: {failure}", err=True)
        sys.exit(3)
    click.echo(summary.line())
    if summary_json:
        import json
        with open(summary_json, "w") as handle:
            json.dump(summary.as_dict(), handle)


@main.command()
@click.argument("case", type=click.Path(dir_okay=False), required=False)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a case key.")
@click.option("--schema", is_flag=True,
              help="Print the JSON Schema of the case format (for editors) and exit.")
@click.option("--ranks", type=int, default=None, metavar="N",
              help="Also print how N MPI ranks would divide the body (slabs, halo, memory per "
                   "rank).")
@_reports_errors
def check(case, overrides, schema, ranks) -> None:
    """Validate CASE and print what a run would do; runs nothing."""
    if schema:
        import json

        from .case.schema import Case
        click.echo(json.dumps(Case.model_json_schema(), indent=2))
        return
    if case is None:
        raise PdgeneralError("check needs a CASE file (or --schema)")
    from .api import prepare
    from .memory import model_bytes
    from .model import DEFAULT_LOAD_STEPS, time_stepping
    prepared = prepare(case, overrides)
    _warn(prepared)
    model = prepared.model
    c = prepared.case
    rows = model.bond_rows()
    parts = None
    if ranks is not None:   # before anything is printed: too many ranks is an error
        from .decomposition import decompose
        parts = decompose(model, ranks, c.precision,
                          "cuda" if prepared.backend == "cuda" else "cpu", rows)
    click.echo(f"case        {c.name} ({prepared.source})")
    click.echo(f"dimension   {c.dimension}D" + (f", plane {c.plane_kind}, thickness {c.thickness_value:g} m"
                                                if c.dimension == 2 else ""))
    click.echo(f"particles   {model.particle_count:,}")
    per = model.bond_count / model.particle_count
    click.echo(f"bonds       {model.bond_count:,} stored (both ends; {per:.1f} per particle), "
               f"{model.precracked_bond_count:,} cut by pre-cracks, "
               f"{model.void_bond_count:,} not made through voids")
    click.echo(f"horizon     {model.horizon:g} m ({model.horizon / model.spacing:g} spacings)")
    click.echo(f"material    {model.material.summary()}")
    click.echo(f"stable dt   {model.stable_time_step:.6g} s")
    if c.solver.type == "explicit":
        dt, steps = time_stepping(model)
        click.echo(f"solver      explicit: dt {dt:.6g} s, {steps:,} steps, end time {dt * steps:.6g} s, "
                   f"snapshot every {c.output.every}")
    else:
        click.echo(f"solver      quasi_static: {c.solver.load_steps or DEFAULT_LOAD_STEPS} load steps")
    for name, count in model.region_counts.items():
        click.echo(f"region      {name}: {count:,} particles")
    click.echo(f"backend     {prepared.backend}, precision {c.precision}")
    click.echo(f"stencil     {rows.stencil_particles:,} particles read their bonds from the lattice "
               f"stencil ({len(model.stencil.offsets)} vectors); "
               f"{rows.explicit.shape[0]:,} have explicit rows")
    memory = model_bytes(model, c.precision, "cuda" if prepared.backend == "cuda" else "cpu", rows)
    if prepared.backend == "cuda":
        from .backends.cuda import CudaBackend
        try:
            CudaBackend.check_memory(model, rows)
        except PdgeneralError as err:
            err.file = prepared.source
            raise
    click.echo(f"memory      {_human_bytes(memory)} (working arrays on the {prepared.backend} backend)")
    if parts is not None:
        _print_decomposition(parts)
    click.echo(f"output      {c.output_path}")


def _print_decomposition(parts) -> None:
    """``check --ranks``: the slabs of pdgeneral.decomposition, a line per rank."""
    axis = "xyz"[parts.axis]
    click.echo(f"ranks       {len(parts.slabs)}: slabs of lattice layers along {axis} ({parts.layers} layers), "
               f"halo {parts.halo_layers} layers each side; largest rank "
               f"{_human_bytes(parts.largest_bytes)}")
    for slab in parts.slabs:
        click.echo(f"  rank {slab.rank:<4} {axis} layers {slab.first_layer}-{slab.last_layer - 1}: "
                   f"{slab.owned:,} owned + {slab.halo:,} halo particles, "
                   f"{slab.explicit_rows:,} explicit rows, {_human_bytes(slab.bytes)}")


@main.command()
@click.argument("case", type=click.Path(dir_okay=False))
@click.argument("backend_list", metavar="BACKENDS")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Run only this many steps (load steps for quasi_static).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a case key.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the table as JSON.")
@_reports_errors
def compare(case, backend_list, steps, overrides, json_path) -> None:
    """Run CASE on BACKENDS (joined by '/', e.g. serial/parallel/cuda) and compare speed and fields.

    Each entry may name a precision, BACKEND:float64 or BACKEND:float32, to set two precisions side by
    side (e.g. cuda:float64/cuda:float32). Exit code 1 when the fields disagree beyond the stated
    tolerances (pdgeneral/compare.py)."""
    import json

    from .api import prepare
    from .compare import FIELDS, as_dict, compare_backends, parse_runs
    names = parse_runs(backend_list)
    if len(names) < 2:
        raise PdgeneralError(f"compare needs at least two backends joined by '/', got {backend_list!r}")
    started = clock.perf_counter()
    prepared = prepare(case, overrides)
    click.echo(f"{prepared.case.name}: {prepared.model.particle_count:,} particles, "
               f"{prepared.model.bond_count:,} bonds, model built in {clock.perf_counter() - started:.2f} s")
    width = max(9, *(len(n) for n in names))
    header = (f"{'backend':>{width}} {'set-up s':>9} {'steps':>7} {'stepping s':>11} {'p-steps/s':>10} "
              f"{'bonds/s':>10} {'speed-up':>9}  " + "  ".join(f"{'max d ' + f:>18}" for f in FIELDS))
    click.echo(header)
    first_precision = names[0].partition(":")[2] or prepared.case.precision

    def report(run):
        diffs = "  ".join(f"{run.differences.get(f, 0.0):>18.3e}" for f in FIELDS)
        # Between precisions the absolute differences say little without the scale: add the relative ones.
        relative = "" if run.precision == first_precision else (
            f"  (relative: displacement {run.relative['displacement']:.2e}, velocity "
            f"{run.relative['velocity']:.2e}; damage off by > 0.1 on {run.damage_mismatch_fraction:.2%})")
        flag = "" if run.agrees else f"  DISAGREES: {run.reason}"
        click.echo(f"{run.label:>{width}} {run.setup_seconds:>9.2f} {run.steps:>7} {run.seconds:>11.3f} "
                   f"{run.particle_steps_per_s:>10.3g} {run.bond_updates_per_s:>10.3g} "
                   f"{run.speedup:>8.1f}x  {diffs}{relative}{flag}")

    runs = compare_backends(prepared, names, steps, report)
    if json_path:
        with open(json_path, "w") as handle:
            json.dump({"case": prepared.case.name, "particles": prepared.model.particle_count,
                       "bonds": prepared.model.bond_count, "runs": as_dict(runs)}, handle, indent=2)
    if not all(r.agrees for r in runs):
        sys.exit(1)


@main.command()
@click.option("--cases", default="2d-1m,2d-4m,2d-16m,3d-1m,3d-8m", show_default=True,
              help="Comma-separated synthetic cases.")
@click.option("--backends", "backend_list", default="auto", show_default=True,
              help="Comma-separated backends.")
@click.option("--precision", default="float64,float32", show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--material", type=click.Choice(["pmb", "lps"]), default="pmb", show_default=True,
              help="The material model of the synthetic cases (lps: nu = 0.3).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None)
@_reports_errors
def bench(cases, backend_list, precision, steps, material, json_path) -> None:
    """Throughput on fixed synthetic cases: particle-steps/s, bond updates/s, bandwidth."""
    import json

    from . import backends
    from .bench import CASES, as_json, copy_bandwidth_gbs, run_benchmarks
    names = [backends.resolve(b, key="--backends") for b in backend_list.split(",")]
    selected = [c for c in cases.split(",") if c]
    unknown = [c for c in selected if c not in CASES]
    if unknown:
        raise PdgeneralError(f"--cases: unknown case {unknown[0]!r} (choose from {', '.join(CASES)})")
    extra = {}
    if "cuda" in names:
        extra["copy_bandwidth_gbs"] = copy_bandwidth_gbs()
        click.echo(f"device-to-device copy: {extra['copy_bandwidth_gbs']:.0f} GB/s (read + write)")
    results = run_benchmarks(selected, names, precision.split(","), steps, report=click.echo,
                             material=material)
    if json_path:
        with open(json_path, "w") as handle:
            json.dump(as_json(results, extra), handle, indent=2)


@main.command()
@click.argument("cases", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a key in every case (repeatable).")
@click.option("--backend", "-b", default=None, help="Backend for every case.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Cases run side by side; each uses its share of the CPU cores (the cores divided "
                   "among the cases running, followed as they finish), unless NUMBA_NUM_THREADS is set.")
@click.option("--gpus", default=None, help="Comma-separated GPU indices; jobs take turns on them.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@_reports_errors
def batch(cases, overrides, backend, jobs, gpus, overwrite) -> None:
    """Run many CASES one after another or side by side; carry on past failures; print a table.

    Side by side (--jobs N), the cases share the CPU cores: each uses the cores divided among the
    cases running at the time, so a case that outlasts the others gets them back. Exit code 1 if
    any case failed."""
    from .batch import run_batch
    gpu_list = [g.strip() for g in gpus.split(",") if g.strip()] if gpus else []
    results = run_batch(list(cases), list(overrides), backend, jobs, gpu_list, overwrite)
    click.echo(f"{'case':<40} {'status':<8} {'steps':>8} {'wall s':>8} {'p-steps/s':>10}  output / error")
    for r in results:
        detail = r["output"] if r["status"] == "ok" else r["error"]
        click.echo(f"{r['case']:<40} {r['status']:<8} {r['steps']:>8} {r['wall']:>8.1f} "
                   f"{r['rate']:>10.3g}  {detail}")
    if any(r["status"] != "ok" for r in results):
        sys.exit(1)


@main.command()
@click.option("--resolution", type=click.Choice(["full", "ci"]), default="full", show_default=True,
              help="full: the literature's set-up; ci: the reduced one the test suite runs.")
@click.option("--only", default=None, metavar="NAME[,NAME]", help="Run only these benchmarks.")
@click.option("--backend", "-b", default="auto", show_default=True, help="auto | serial | parallel | cuda.")
@click.option("--directory", type=click.Path(file_okay=False), default="docs/validation", show_default=True,
              help="Where each benchmark's JSON result and figures go.")
@click.option("--document", type=click.Path(dir_okay=False), default="docs/validation.md",
              show_default=True, help="The document rewritten from every result in --directory.")
@click.option("--precision", default="float64", show_default=True, metavar="float64|float32",
              help="The case key precision of every run. float32 results go to DIRECTORY/float32/, beside "
                   "float64 at the same resolution (the recorded result, else a float64 run made too).")
@_reports_errors
def validate(resolution, only, backend, directory, document, precision) -> None:
    """Run the validation benchmarks against their published answers and rewrite the document.

    Exit code 1 if any check failed."""
    from .validation.report import run_benchmarks

    def report(result):
        passed = sum(1 for c in result.checks if c.passed)
        # A float64 result during a float32 run is the reference the float32 one is set beside.
        label = "" if precision == "float64" else (
            f" ({result.precision})" if result.precision == precision else f" ({result.precision} reference)")
        click.echo(f"{'PASS' if result.passed else 'FAIL'} {result.name}{label}: {passed}/{len(result.checks)} "
                   f"checks, {result.particles:,} particles, {result.wall_seconds:.1f} s on {result.backend}")
        for c in result.checks:
            if not c.passed:
                click.echo(f"     failed: {c.name}: expected {c.expected}, obtained {c.obtained}")

    names = [n.strip() for n in only.split(",")] if only else None
    results = run_benchmarks(names, resolution, backend, directory, document, report=report,
                             precision=precision)
    failed = [r.name for r in results if not r.passed]
    click.echo(f"{len(results) - len(failed)} of {len(results)} benchmarks passed"
               + ("" if precision == "float64" else f" in {precision}")
               + (f" (failed: {', '.join(failed)})" if failed else "") + f"; wrote {document}")
    if failed:
        sys.exit(1)


@main.command()
@click.argument("output", type=click.Path(dir_okay=False), required=False)
@click.option("--field", default="damage", show_default=True, metavar="FIELD[:x|y|z]",
              help="damage, displacement or velocity (a vector's magnitude), or one component, "
                   "e.g. displacement:y; strain_energy_density where the snapshots hold it.")
@click.option("--step", type=int, default=None, help="Snapshot step (default: the last).")
@click.option("--deform", type=float, default=0.0, show_default=True, metavar="FACTOR",
              help="Draw the particles at x + FACTOR * u (the deformed shape, magnified).")
@click.option("--slice", "slice_at", default=None, metavar="AXIS=VALUE",
              help="3D: the plane of particles drawn, e.g. z=0.0045 (default: the mid-plane in z).")
@click.option("--history", "history", is_flag=True,
              help="Draw the history instead: energies against time, and each loaded region's "
                   "reaction force against its displacement.")
@click.option("--animate", is_flag=True,
              help="Every snapshot as a frame of an animation (-o crack.gif, or .mp4 with ffmpeg).")
@click.option("-o", "png", type=click.Path(dir_okay=False), default=None,
              help="Output path (PNG; GIF or MP4 with --animate).")
@_reports_errors
def plot(output, field, step, deform, slice_at, history, animate, png) -> None:
    """Draw the particles of an output file coloured by a field, with units (3D: a slice); or its
    history (--history); or every snapshot as an animation (--animate)."""
    if output is None:
        raise PdgeneralError("plot needs an output file (OUT.h5)")
    if history and animate:
        raise PdgeneralError("--history and --animate: choose one")
    if history:
        from .io.plots import plot_history
        click.echo(f"wrote {plot_history(output, png)}")
        return
    if animate:
        from .io.plots import animate as draw_frames
        click.echo(f"wrote {draw_frames(output, field, png, deform, slice_at)}")
        return
    from .io.summary import plot as draw
    click.echo(f"wrote {draw(output, field, step, png, deform, slice_at)}")


@main.command()
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None,
              help="Write the table to this CSV file instead of printing it.")
@_reports_errors
def history(output, csv_path) -> None:
    """Print (or export) the history of an output: energies, broken bonds, and each region's
    reaction force and mean displacement, one row per recorded step."""
    from .io.history import UNITS, history_table, read_history
    try:
        table = history_table(read_history(output))
    except (OSError, ValueError) as err:
        raise PdgeneralError(str(err)) from None

    def unit(name: str) -> str:
        quantity = name.rsplit(".", 1)[-1].rsplit("_", 1)[0] if "." in name else name
        return UNITS.get(quantity, "")

    names = list(table)
    if csv_path:
        import csv
        with open(csv_path, "w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow([f"{name} ({unit(name)})" if unit(name) not in ("", "1") else name
                          for name in names])
            for k in range(len(table["step"])):
                out.writerow([repr(table[name][k].item()) for name in names])
        click.echo(f"wrote {csv_path} ({len(table['step'])} rows)")
        return
    click.echo("  ".join(f"{name:>14}" for name in names))
    click.echo("  ".join(f"{'(' + unit(name) + ')' if unit(name) not in ('', '1') else '':>14}"
                         for name in names))
    for k in range(len(table["step"])):
        click.echo("  ".join(f"{table[name][k]:>14d}" if table[name].dtype.kind == "i"
                             else f"{table[name][k]:>14.6g}" for name in names))


@main.command()
@click.argument("output", type=click.Path(dir_okay=False), required=False)
@_reports_errors
def info(output) -> None:
    """Versions, backends, CPU threads and GPUs; with OUT.h5, a summary of that output file."""
    if output is not None:
        from .io.summary import describe
        for line in describe(output):
            click.echo(line)
        return
    import numba
    import numpy

    from . import backends
    click.echo(f"pdgeneral {__version__}")
    click.echo(f"python    {sys.version.split()[0]}")
    click.echo(f"numpy     {numpy.__version__}")
    click.echo(f"numba     {numba.__version__}")
    click.echo(f"threads   {numba.config.NUMBA_NUM_THREADS} (CPU cores: {os.cpu_count()})")
    gpus = []
    if backends.cuda_available():
        from numba import cuda
        gpus = [d.name.decode() if isinstance(d.name, bytes) else d.name for d in cuda.gpus]
    click.echo(f"gpus      {', '.join(gpus) if gpus else 'none'}")
    usable = ["serial", "parallel"]
    if backends.cuda_backend_class() is not None and gpus:
        usable.append("cuda")
    click.echo(f"backends  {', '.join(usable)} (auto -> {backends.resolve('auto')})")
    from .kernel_cache import usage
    place, entries, size = usage()
    click.echo(f"kernels   cached in {place} ({entries} compiled kernels, {size / 2**20:.1f} MiB; "
               f"delete the folder to empty it)" if place is not None
               else "kernels   not cached (PDGENERAL_CACHE_DIR is empty)")
