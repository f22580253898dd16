"""`pdgeneral batch`: cases side by side share the cores (issue 18, item 6)."""
import subprocess

import pytest

from pdgeneral import batch


@pytest.mark.parametrize("cores, jobs, cases, threads", [(2, 2, 2, 1), (2, 1, 5, 2), (16, 3, 10, 5),
                                                         (16, 4, 2, 8), (2, 8, 8, 1)])
def test_each_job_gets_its_share_of_the_cores(monkeypatch, cores, jobs, cases, threads):
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    monkeypatch.setattr(batch.os, "cpu_count", lambda: cores)
    assert batch.threads_per_job(jobs, cases) == threads


def test_the_share_reaches_each_process_and_a_users_setting_is_kept(monkeypatch, tmp_path):
    seen = []

    def fake_run(command, env, **kwargs):
        seen.append(env.get("NUMBA_NUM_THREADS"))
        return subprocess.CompletedProcess(command, 2, "", "error: x.yaml: no such file")

    monkeypatch.setattr(batch.subprocess, "run", fake_run)
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    monkeypatch.setattr(batch.os, "cpu_count", lambda: 4)
    batch.run_batch(["a.yaml", "b.yaml"], [], jobs=2)
    assert seen == ["2", "2"]
    seen.clear()
    monkeypatch.setenv("NUMBA_NUM_THREADS", "3")
    batch.run_batch(["a.yaml", "b.yaml"], [], jobs=2)
    assert seen == ["3", "3"]
