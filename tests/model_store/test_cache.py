"""The cache folder mechanics: stale partial downloads are swept, installs are whole-folder renames."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from reranker.model_store import cache


def test_sweep_removes_leftovers_of_dead_and_same_pid_processes_only(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    live_pid = os.getppid()  # the process that started pytest is alive and is not us
    for pid in (dead_pid, os.getpid(), live_pid):
        (tmp_path / f".tmp-abc-{pid}-x1").mkdir()
    (tmp_path / ".tmp-other-1-x1").mkdir()
    (tmp_path / "abc-tiny-1").mkdir()
    cache.sweep_stale_temps(tmp_path, "abc")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f".tmp-abc-{live_pid}-x1", ".tmp-other-1-x1", "abc-tiny-1"]
    )


def test_temp_folders_sit_beside_the_final_one(tmp_path: Path) -> None:
    temp = cache.new_temp_folder(tmp_path / "cache", "abc")
    assert temp.parent == tmp_path / "cache"
    assert temp.name.startswith(f".tmp-abc-{os.getpid()}-")


def test_install_renames_into_place_and_replaces_an_old_copy(tmp_path: Path) -> None:
    final = tmp_path / "abc-m-1"
    first = cache.new_temp_folder(tmp_path, "abc")
    (first / "f").write_text("one")
    assert cache.install(first, final) is True
    second = cache.new_temp_folder(tmp_path, "abc")
    (second / "f").write_text("two")
    assert cache.install(second, final) is True
    assert (final / "f").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["abc-m-1"]


def test_model_locks_of_different_keys_do_not_block_each_other() -> None:
    release = threading.Event()
    entered = {"k": threading.Event(), "other": threading.Event()}

    def hold(key: str) -> None:
        with cache.model_lock(key):
            entered[key].set()
            release.wait(10)

    threads = [threading.Thread(target=hold, args=(key,)) for key in entered]
    for thread in threads:
        thread.start()
    assert entered["k"].wait(10) and entered["other"].wait(10)
    release.set()
    for thread in threads:
        thread.join(10)
