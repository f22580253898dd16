"""`pdgeneral batch`: cases side by side share the cores, and a case that outlasts the others gets
them back (issue 18, item 6)."""
import subprocess
from pathlib import Path

import numba
import pytest

from pdgeneral import batch
from pdgeneral.backends import cpu


def test_the_share_follows_the_cases_running(monkeypatch, tmp_path):
    # 4 cores: two cases running get 2 threads each; once one is left, it gets all 4.
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    monkeypatch.setattr(batch.os, "cpu_count", lambda: 4)
    share = batch.CpuShare(tmp_path)
    share.started()
    assert share.path.read_text() == "4"
    share.started()
    assert share.path.read_text() == "2"
    share.ended()
    assert share.path.read_text() == "4"
    # each case's process is told where to read it, and reads the count of its own moment
    seen = []

    def fake_run(command, env, **kwargs):
        seen.append(Path(env["PDGENERAL_CPU_SHARE"]).read_text())
        return subprocess.CompletedProcess(command, 2, "", "error: x.yaml: no such file")

    monkeypatch.setattr(batch.subprocess, "run", fake_run)
    batch.run_batch(["a.yaml", "b.yaml", "c.yaml"], [], jobs=1)
    assert seen == ["4", "4", "4"]      # one at a time: every core


def test_a_users_thread_setting_is_kept(monkeypatch):
    monkeypatch.setenv("NUMBA_NUM_THREADS", "3")
    seen = []

    def fake_run(command, env, **kwargs):
        seen.append("PDGENERAL_CPU_SHARE" in env)
        return subprocess.CompletedProcess(command, 2, "", "error: x.yaml: no such file")

    monkeypatch.setattr(batch.subprocess, "run", fake_run)
    batch.run_batch(["a.yaml", "b.yaml"], [], jobs=2)
    assert seen == [False, False]


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs a machine with 2 cores")
def test_a_cpu_backend_takes_the_threads_it_is_given(tmp_path, monkeypatch):
    share = tmp_path / "cpu-share"
    monkeypatch.setenv("PDGENERAL_CPU_SHARE", str(share))
    before = numba.get_num_threads()
    try:
        for given, expected in (("1", 1), ("2", 2), ("99", numba.config.NUMBA_NUM_THREADS), ("x", 2)):
            share.write_text(given)
            cpu.follow_cpu_share()
            assert numba.get_num_threads() == expected, given
    finally:
        numba.set_num_threads(before)
