"""Command line: thin click commands over the Python API (pdgeneral.api).

Errors in the user's input become one line on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import functools
import os
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


@main.command()
@click.argument("case", type=click.Path(dir_okay=False))
@click.option("--backend", "-b", default=None, help="auto | serial | parallel | cuda (overrides the case).")
@click.option("--output", "-o", default=None, help="HDF5 output path (overrides output.path).")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Run only this many steps (load steps for quasi_static).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a case key, e.g. --set discretization.spacing=0.25e-3 (repeatable).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_reports_errors
def run(case, backend, output, steps, overrides, overwrite, quiet) -> None:
    """Run CASE (a YAML case file) and write HDF5 snapshots."""
    from .api import prepare, run_case
    prepared = prepare(case, overrides, backend)
    progress = _Progress(prepared.model.particle_count, not quiet)
    summary = run_case(prepared, output=output, steps=steps, overwrite=overwrite, progress=progress)
    click.echo(summary.line())


@main.command()
@click.argument("case", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a case key.")
@_reports_errors
def check(case, overrides) -> None:
    """Validate CASE and print what a run would do; runs nothing."""
    from .api import prepare
    from .memory import estimate_bytes
    from .model import DEFAULT_LOAD_STEPS, time_stepping
    prepared = prepare(case, overrides)
    model = prepared.model
    c = prepared.case
    click.echo(f"case        {c.name} ({prepared.source})")
    click.echo(f"dimension   {c.dimension}D" + (f", plane {c.plane_kind}, thickness {c.thickness_value:g} m"
                                                if c.dimension == 2 else ""))
    click.echo(f"particles   {model.particle_count:,}")
    per = model.bond_count / model.particle_count
    click.echo(f"bonds       {model.bond_count:,} stored (both ends; {per:.1f} per particle), "
               f"{model.precracked_bond_count:,} cut by pre-cracks")
    click.echo(f"horizon     {model.horizon:g} m ({model.horizon / model.spacing:g} spacings)")
    click.echo(f"micromodulus {model.micromodulus:.6g}, critical stretch {model.critical_stretch:.6g}")
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
    memory = estimate_bytes(model.particle_count, model.bond_count, model.dimension, c.precision,
                            backend="cuda" if prepared.backend == "cuda" else "cpu",
                            max_bonds=model.max_bonds)
    click.echo(f"memory      {_human_bytes(memory)} (working arrays on the {prepared.backend} backend)")
    click.echo(f"output      {c.output_path}")


@main.command()
def info() -> None:
    """Versions, backends, CPU threads and GPUs."""
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
