"""The one atomic write: temporary file beside the target, fsync of file and folder, rename,
permissions from the umask read once (never flipped while other threads create files)."""
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sr_scale.core import atomic_file, image_io
from sr_scale.core.atomic_file import WriteError, atomic_path, atomic_write


def test_writing_never_changes_the_process_umask(tmp_path, monkeypatch):
    """The umask is process-wide: setting it to 0 and back in one thread while another creates a
    file or folder gives that file or folder 0o666 / 0o777."""
    calls = []
    real = os.umask
    monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or real(mask))
    image_io.atomic_write(tmp_path / "out.txt", lambda tmp: tmp.write_text("x"))
    atomic_write(tmp_path / "other.txt", lambda tmp: tmp.write_text("y"))
    assert calls == []


def test_written_file_has_the_permissions_open_would_give(tmp_path):
    """In a process started with umask 027, a written file is 0o640 (mkstemp alone would make 0o600)."""
    script = ("import os, sys; from sr_scale.core.atomic_file import atomic_write; "
              "atomic_write(sys.argv[1], lambda tmp: tmp.write_text('x')); print(oct(os.stat(sys.argv[1]).st_mode & 0o777))")
    done = subprocess.run(["sh", "-c", 'umask 027 && exec "$0" -c "$1" "$2"', sys.executable, script, str(tmp_path / "f.txt")],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0o640"


def test_parallel_writes_and_new_folders_all_keep_the_umask(tmp_path):
    expected_file, expected_folder = 0o666 & ~atomic_file.UMASK, 0o777 & ~atomic_file.UMASK

    def writer(n: int) -> None:
        for i in range(40):
            image_io.atomic_write(tmp_path / f"w{n}-{i}.txt", lambda tmp: tmp.write_text("x"))

    def folder_maker() -> None:
        for i in range(200):
            (tmp_path / f"d{i}").mkdir()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)] + [threading.Thread(target=folder_maker)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert {m for name, m in modes.items() if name.startswith("w")} == {expected_file}
    assert {m for name, m in modes.items() if name.startswith("d")} == {expected_folder}


def test_the_file_and_its_folder_are_flushed_to_disk(tmp_path, monkeypatch):
    """fsync of the data before the rename, and of the folder after it: a power cut leaves the old
    file or the whole new one, never a zero-length one."""
    flushed = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: flushed.append(os.fstat(fd)) or real(fd))
    atomic_write(tmp_path / "out.bin", lambda tmp: tmp.write_bytes(b"data"))
    target = (tmp_path / "out.bin").stat()
    assert [stat.S_ISREG(s.st_mode) for s in flushed] == [True, False]
    assert flushed[0].st_ino == target.st_ino and flushed[0].st_size == 4
    assert flushed[1].st_ino == tmp_path.stat().st_ino


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def fail(tmp: Path) -> None:
        tmp.write_bytes(b"partial")
        raise ValueError("encoder refused")

    with pytest.raises(ValueError, match="encoder refused"):
        atomic_write(target, fail)
    assert list(tmp_path.iterdir()) == [target] and target.read_bytes() == b"old"


def test_a_missing_folder_is_a_one_line_write_error(tmp_path):
    with pytest.raises(WriteError, match=r"^\S+out\.bin: cannot write to \S+missing \(No such file or directory\)$"):
        with atomic_path(tmp_path / "missing" / "out.bin") as tmp:
            tmp.write_bytes(b"never")


def test_a_disk_error_while_writing_is_a_write_error_naming_the_target(tmp_path):
    def full(tmp: Path) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(WriteError, match=r"out\.bin: cannot write \(No space left on device\)"):
        atomic_write(tmp_path / "out.bin", full)
    assert list(tmp_path.iterdir()) == []
