"""The kernel cache on disk (pdgeneral/kernel_cache.py): one entry per specialization,
damaged entries compile again, and kernels loaded from it compute the same bits as compiled ones."""
import json
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from conftest import CUDA_SIMULATOR, real_gpu
from numba import njit

from pdgeneral import kernel_cache
from pdgeneral.kernels import retarget

SCALE = 0.0


def scaled(x):
    return x * SCALE + 1.0


def cached_scaled(scale: float):
    """A fresh dispatcher of ``scaled`` with SCALE fixed at compilation, as backends retarget."""
    return kernel_cache.attach(njit(retarget(scaled, {"SCALE": scale})), ("scale", scale))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PDGENERAL_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_each_specialization_of_one_source_has_its_own_entry(cache_dir):
    # numba's cache=True keys on the source and bytecode only, so it would hand SCALE=2's code
    # to SCALE=3; here the backend's key tells them apart.
    first = cached_scaled(2.0)
    assert first(5.0) == 11.0 and first._cache.misses == 1 and first._cache.hits == 0
    again = cached_scaled(2.0)               # a new dispatcher: a new process would see the same
    assert again(5.0) == 11.0 and again._cache.hits == 1 and again._cache.misses == 0
    other = cached_scaled(3.0)
    assert other(5.0) == 16.0 and other._cache.misses == 1
    assert len(list((cache_dir / "cpu").glob("scaled-*.nbk"))) == 2


def test_a_damaged_entry_compiles_again_and_is_rewritten(cache_dir):
    cached_scaled(2.0)(5.0)
    (entry,) = (cache_dir / "cpu").glob("scaled-*.nbk")
    whole = entry.read_bytes()
    entry.write_bytes(whole[: len(whole) // 2])          # as after a crash of a foreign writer
    damaged = cached_scaled(2.0)
    assert damaged(5.0) == 11.0 and damaged._cache.misses == 1
    rewritten = cached_scaled(2.0)                # the rewritten entry loads
    assert rewritten(5.0) == 11.0 and rewritten._cache.hits == 1
    # A file that still unpickles but whose payload changed fails its checksum.
    text, checksum, payload = pickle.loads(entry.read_bytes())
    flipped = bytearray(payload)
    flipped[len(flipped) // 2] ^= 0xFF
    entry.write_bytes(pickle.dumps((text, checksum, bytes(flipped))))
    corrupt = cached_scaled(2.0)
    assert corrupt(5.0) == 11.0 and corrupt._cache.misses == 1 and corrupt._cache.hits == 0


def test_compile_options_are_part_of_the_key(cache_dir):
    plain = kernel_cache.attach(njit(retarget(scaled, {"SCALE": 2.0})), ("scale", 2.0))
    assert plain(5.0) == 11.0 and plain._cache.misses == 1
    other = kernel_cache.attach(njit(error_model="numpy")(retarget(scaled, {"SCALE": 2.0})),
                                ("scale", 2.0))
    assert other(5.0) == 11.0 and other._cache.misses == 1 and other._cache.hits == 0


def test_another_package_source_does_not_load_old_entries(cache_dir, monkeypatch):
    cached_scaled(2.0)(5.0)
    monkeypatch.setattr(kernel_cache, "_SOURCE", "edited")
    edited = cached_scaled(2.0)
    assert edited(5.0) == 11.0 and edited._cache.misses == 1 and edited._cache.hits == 0
    assert len(list((cache_dir / "cpu").glob("scaled-*.nbk"))) == 2


def test_the_fingerprint_is_the_package_source(tmp_path, monkeypatch):
    package = tmp_path / "package"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("A = 1\n")
    (package / "sub" / "b.py").write_text("B = 2\n")
    (package / "sub" / ".#b.py").symlink_to(tmp_path / "gone")   # an editor's lock file
    monkeypatch.setattr(kernel_cache, "_PACKAGE", package)
    first, stamps = kernel_cache._fingerprint()
    assert kernel_cache._fingerprint()[0] == first
    monkeypatch.setattr(kernel_cache, "_SOURCE_STAMPS", stamps)
    assert kernel_cache.sources_unchanged()
    (package / "sub" / "b.py").write_text("B = 3\n")
    assert kernel_cache._fingerprint()[0] != first
    assert not kernel_cache.sources_unchanged()


def test_sources_changed_after_import_store_nothing(cache_dir, monkeypatch):
    monkeypatch.setattr(kernel_cache, "sources_unchanged", lambda: False)
    monkeypatch.setattr(kernel_cache, "_WARNED", set())
    with pytest.warns(RuntimeWarning, match="sources changed"):
        assert cached_scaled(2.0)(5.0) == 11.0
    assert not cache_dir.exists()


def test_an_empty_cache_dir_turns_the_cache_off(monkeypatch, tmp_path):
    monkeypatch.setenv("PDGENERAL_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))     # where it would otherwise go
    for _ in range(2):
        dispatcher = cached_scaled(2.0)
        assert dispatcher(5.0) == 11.0
        assert dispatcher._cache.hits == 0 and dispatcher._cache.misses == 0
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_cache_warns_once_and_still_runs(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("PDGENERAL_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(kernel_cache, "_WARNED", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cached_scaled(2.0)(5.0) == 11.0
        assert cached_scaled(3.0)(5.0) == 16.0       # the same message is not repeated
    messages = [str(w.message) for w in caught if "kernel cache" in str(w.message)]
    assert len(messages) == 1 and "cannot write the kernel cache" in messages[0]


def test_usage_counts_entries_and_stale_temporaries_go(cache_dir):
    cached_scaled(2.0)(5.0)
    stale = cache_dir / "cpu" / "scaled-x.nbk123.tmp"        # a writer killed long ago
    stale.write_bytes(b"half")
    os.utime(stale, (0, 0))
    fresh = cache_dir / "cpu" / "scaled-y.nbk456.tmp"        # one still writing
    fresh.write_bytes(b"half")
    directory, entries, size = kernel_cache.usage()
    assert directory == cache_dir and entries == 1 and size > 0
    cached_scaled(3.0)(5.0)                                   # a save sweeps old temporaries
    assert not stale.exists() and fresh.exists()
    assert kernel_cache.usage()[1] == 2


def test_past_the_limit_the_least_recently_used_entries_go(cache_dir, monkeypatch):
    folder = cache_dir / "cpu"
    cached_scaled(2.0)(5.0)
    (two,) = folder.glob("scaled-*.nbk")
    cached_scaled(3.0)(5.0)
    (three,) = set(folder.glob("scaled-*.nbk")) - {two}
    for age, path in enumerate((two, three)):     # both old, SCALE=2's the older ...
        os.utime(path, (1000 + age, 1000 + age))
    hit = cached_scaled(2.0)                      # ... until a hit marks it used
    assert hit(5.0) == 11.0 and hit._cache.hits == 1
    monkeypatch.setattr(kernel_cache, "LIMIT_BYTES",
                        int(2.8 * max(two.stat().st_size, three.stat().st_size)))
    assert cached_scaled(4.0)(5.0) == 21.0        # a third entry: over the limit
    assert two.exists() and not three.exists()    # the least recently used went, only it
    assert len(list(folder.glob("scaled-*.nbk"))) == 2


def test_the_default_place_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("PDGENERAL_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kernel_cache.cache_directory() == tmp_path / "pdgeneral"


# A callee too large for LLVM to inline, and a driver that calls it: the driver's cached code holds
# a weak copy of the callee, under the callee's symbol.
COLLISION = """
import sys
import numpy as np
from numba import njit
from pdgeneral import kernel_cache
from pdgeneral.kernels import retarget

SCALE = 0.0


def body(x, out):
    for i in range(x.shape[0]):
        v = x[i]
        a = v
{lines}
        out[i] = a * SCALE


def build(scale):
    callee = kernel_cache.attach(njit(retarget(body, {{"SCALE": scale}})), ("callee", scale))

    @njit
    def driver(x, out):
        callee(x, out)
    return kernel_cache.attach(driver, ("driver", scale))


x = np.linspace(0.1, 2.0, 8)
for scale in map(float, sys.argv[1:]):
    out = np.zeros(8)
    build(scale)(x, out)
    print(out[3])
"""


def test_two_specializations_from_two_processes_keep_their_own_code(tmp_path):
    # Processes A and B each compile one specialization in the same order (so numba's counter
    # would give the two the same symbol); process C loads both from the cache. Without distinct
    # symbols, C's second driver would call the first one's callee.
    lines = "\n".join(f"        a = np.sin(a * {1 + k / 1000}) + np.cos(v + a * 0.5) * 0.5"
                      for k in range(70))
    script = tmp_path / "collision.py"
    script.write_text(COLLISION.format(lines=lines))
    env = dict(os.environ, PDGENERAL_CACHE_DIR=str(tmp_path / "cache"))

    def values(*scales):
        proc = subprocess.run([sys.executable, str(script), *map(str, scales)], env=env,
                              capture_output=True, text=True, timeout=600,
                              cwd=Path(__file__).parent.parent, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return [float(v) for v in proc.stdout.split()]

    (two,) = values(2.0)
    (three,) = values(3.0)
    assert three == pytest.approx(1.5 * two, rel=1e-12)
    assert values(2.0, 3.0) == [two, three]
    assert values(3.0, 2.0) == [three, two]


RUN_BACKENDS = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    sys.path.insert(0, {tests!r})
    from conftest import model_from
    from test_cuda import SMALL
    from pdgeneral import backends
    from pdgeneral.model import time_stepping
    from pdgeneral.solvers import run_explicit
    report = {{}}
    for name in {names!r}:
        model = model_from(SMALL)
        start = time.perf_counter()
        engine = backends.create(name, model)
        dt, _ = time_stepping(model)
        run_explicit(engine, None, 30, dt, 10**9)
        out = engine.fields()
        dispatchers = [d for d in _dispatchers(engine)]
        report[name] = {{
            "seconds": time.perf_counter() - start,
            "hits": sum(d._cache.hits for d in dispatchers),
            "misses": sum(d._cache.misses for d in dispatchers),
            "fields": {{k: v.tobytes().hex() for k, v in out.items()}},
            "intact": engine.intact_bonds().tobytes().hex()}}
    print(json.dumps(report))
""")

DISPATCHERS = textwrap.dedent("""
    from pdgeneral.kernel_cache import KernelCache
    def _dispatchers(engine):
        seen = []
        groups = [getattr(engine, name) for name in ("kernels", "k", "_force_kernel")
                  if hasattr(engine, name)]
        for group in map(vars, groups):
            for d in group.values():
                if isinstance(getattr(d, "_cache", None), KernelCache) and d not in seen:
                    seen.append(d)
        return seen
""")


def run_in_fresh_process(names, cache_dir: Path, simulator: bool) -> dict:
    env = dict(os.environ, PDGENERAL_CACHE_DIR=str(cache_dir))
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    script = DISPATCHERS + RUN_BACKENDS.format(tests=str(Path(__file__).parent), names=names)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).parent.parent, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_same_run(cold: dict, warm: dict, names) -> None:
    for name in names:
        # (A driver loaded whole, e.g. the CPU's advance, holds the loops it calls: those are not
        # looked up again, so the warm run may have fewer hits than the cold one had misses.)
        assert cold[name]["misses"] > 0 and cold[name]["hits"] == 0, name
        assert warm[name]["hits"] > 0 and warm[name]["misses"] == 0, name
        assert warm[name]["fields"] == cold[name]["fields"], name     # bit for bit
        assert warm[name]["intact"] == cold[name]["intact"], name


def test_cpu_backends_loaded_from_the_cache_give_the_same_bits(tmp_path):
    # Two fresh processes: the first compiles and stores every loop, the second loads them all.
    names = ["serial", "parallel"]
    cold = run_in_fresh_process(names, tmp_path / "cache", simulator=True)
    warm = run_in_fresh_process(names, tmp_path / "cache", simulator=True)
    assert_same_run(cold, warm, names)
    assert cold["serial"]["fields"] == cold["parallel"]["fields"]


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_SIMULATOR or not real_gpu(), reason="needs a real CUDA GPU")
def test_cuda_kernels_loaded_from_the_cache_give_the_same_bits(tmp_path):
    cold = run_in_fresh_process(["cuda"], tmp_path / "cache", simulator=False)
    warm = run_in_fresh_process(["cuda"], tmp_path / "cache", simulator=False)
    assert_same_run(cold, warm, ["cuda"])
    print(f"cuda set-up and 30 steps: {cold['cuda']['seconds']:.2f} s compiling, "
          f"{warm['cuda']['seconds']:.2f} s from the cache")
