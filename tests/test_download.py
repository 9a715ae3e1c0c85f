"""Tests for downloading, verifying and extracting archives.

Downloads come from an HTTP server on 127.0.0.1 that each test starts, or go
to a closed local port. No test reaches another host.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import socket
import stat
import threading
import zipfile
from pathlib import Path

import pytest

from graphrec.data import download
from graphrec.data.download import ML_100K, ArchiveSpec, download_file, ensure_dataset, safe_extract_zip
from graphrec.data.paths import resolve_data_root
from graphrec.errors import DataError, DownloadError

CLOSED_PORT_URL = "http://127.0.0.1:1/ml-100k.zip"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def served(tmp_path: Path):
    """Serve the folder tmp_path/served on 127.0.0.1 and yield (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    yield folder, f"http://127.0.0.1:{server.server_address[1]}"

    server.shutdown()
    server.server_close()
    thread.join()


def make_ml100k_zip(archive: Path) -> Path:
    """Write a small archive laid out like ml-100k.zip, with one top folder."""
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ml-100k/u.data", "1\t10\t5\t881250949\n")
        zf.writestr("ml-100k/u.item", "10|Toy Story (1995)|01-Jan-1995||url|" + "|".join(["0"] * 19) + "\n")
        zf.writestr("ml-100k/u.user", "1|24|M|technician|85711\n")
    return archive


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def spec_for(archive: Path, url: str) -> ArchiveSpec:
    return dataclasses.replace(ML_100K, url=url, size=archive.stat().st_size, md5=md5_of(archive))


def leftover_files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_download_file_success(served, tmp_path: Path):
    folder, base_url = served
    archive = make_ml100k_zip(folder / "ml-100k.zip")
    dest = tmp_path / "root" / "ml-100k.zip"

    result = download_file(f"{base_url}/ml-100k.zip", dest, archive.stat().st_size, md5_of(archive), progress=False)

    assert result == dest
    assert dest.read_bytes() == archive.read_bytes()
    assert leftover_files(dest.parent) == ["ml-100k.zip"]


def test_download_file_without_checks(served, tmp_path: Path):
    folder, base_url = served
    (folder / "notes.txt").write_text("hello")
    dest = tmp_path / "notes.txt"

    download_file(f"{base_url}/notes.txt", dest, None, None, progress=False)

    assert dest.read_text() == "hello"


def test_download_md5_mismatch_removes_partial(served, tmp_path: Path):
    folder, base_url = served
    archive = make_ml100k_zip(folder / "ml-100k.zip")
    url = f"{base_url}/ml-100k.zip"
    dest = tmp_path / "root" / "ml-100k.zip"
    wrong_md5 = "0" * 32

    with pytest.raises(DownloadError) as caught:
        download_file(url, dest, archive.stat().st_size, wrong_md5, progress=False)

    message = str(caught.value)
    assert url in message
    assert wrong_md5 in message
    assert md5_of(archive) in message
    assert not dest.exists()
    assert leftover_files(dest.parent) == []


def test_download_size_mismatch_removes_partial(served, tmp_path: Path):
    folder, base_url = served
    archive = make_ml100k_zip(folder / "ml-100k.zip")
    actual_size = archive.stat().st_size
    dest = tmp_path / "ml-100k.zip"

    with pytest.raises(DownloadError) as caught:
        download_file(f"{base_url}/ml-100k.zip", dest, actual_size + 10, None, progress=False)

    assert f"expected {actual_size + 10} bytes" in str(caught.value)
    assert f"got {actual_size}" in str(caught.value)
    assert leftover_files(tmp_path) == ["served"]


def test_download_http_error(served, tmp_path: Path):
    _, base_url = served
    dest = tmp_path / "missing.zip"

    with pytest.raises(DownloadError) as caught:
        download_file(f"{base_url}/missing.zip", dest, None, None, progress=False)

    assert "HTTP 404" in str(caught.value)
    assert str(dest) in str(caught.value)
    assert leftover_files(tmp_path) == ["served"]


def test_download_closed_port(tmp_path: Path):
    dest = tmp_path / "ml-100k.zip"

    with pytest.raises(DownloadError) as caught:
        download_file(CLOSED_PORT_URL, dest, None, None, progress=False)

    assert "failed" in str(caught.value)
    assert f"place it at {dest}" in str(caught.value)
    assert leftover_files(tmp_path) == []


def test_download_read_timeout(tmp_path: Path, monkeypatch):
    # A listening socket that never accepts: the connection completes in the
    # kernel's backlog, and the request then waits for a response that never comes.
    monkeypatch.setattr(download, "DOWNLOAD_TIMEOUT_S", 0.3)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/ml-100k.zip"

        with pytest.raises(DownloadError) as caught:
            download_file(url, tmp_path / "ml-100k.zip", None, None, progress=False)

    assert "timed out" in str(caught.value)
    assert leftover_files(tmp_path) == []


def test_extract_one_top_folder(tmp_path: Path):
    archive = make_ml100k_zip(tmp_path / "ml-100k.zip")
    target = tmp_path / "root"

    safe_extract_zip(archive, target)

    assert (target / "ml-100k" / "u.data").read_text() == "1\t10\t5\t881250949\n"
    assert leftover_files(target) == ["ml-100k"]


def test_extract_existing_entry_rejected(tmp_path: Path):
    archive = make_ml100k_zip(tmp_path / "ml-100k.zip")
    target = tmp_path / "root"
    (target / "ml-100k").mkdir(parents=True)

    with pytest.raises(DownloadError, match="already exists"):
        safe_extract_zip(archive, target)

    assert leftover_files(target) == ["ml-100k"]
    assert leftover_files(target / "ml-100k") == []


def test_extract_rejects_parent_component(tmp_path: Path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ml-100k/u.data", "data")
        zf.writestr("../evil.txt", "escaped")
    target = tmp_path / "root" / "inner"

    with pytest.raises(DownloadError) as caught:
        safe_extract_zip(archive, target)

    assert "../evil.txt" in str(caught.value)
    assert not (tmp_path / "root" / "evil.txt").exists()
    assert not (tmp_path / "evil.txt").exists()
    assert not target.exists()


def test_extract_rejects_absolute_path(tmp_path: Path):
    outside = tmp_path / "outside" / "evil.txt"
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ml-100k/u.data", "data")
        zf.writestr(str(outside), "escaped")
    target = tmp_path / "root"

    with pytest.raises(DownloadError) as caught:
        safe_extract_zip(archive, target)

    assert "absolute path" in str(caught.value)
    assert str(outside) in str(caught.value)
    assert not outside.exists()
    assert not target.exists()


def test_extract_rejects_symlink_member(tmp_path: Path):
    archive = tmp_path / "link.zip"
    link = zipfile.ZipInfo("ml-100k/link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ml-100k/u.data", "data")
        zf.writestr(link, "/etc/passwd")
    target = tmp_path / "root"

    with pytest.raises(DownloadError) as caught:
        safe_extract_zip(archive, target)

    assert "ml-100k/link" in str(caught.value)
    assert "symbolic link" in str(caught.value)
    assert not target.exists()


def test_extract_invalid_zip_leaves_nothing(tmp_path: Path):
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"this is not a zip archive")
    target = tmp_path / "root"

    with pytest.raises(DownloadError, match="invalid zip archive"):
        safe_extract_zip(archive, target)

    assert not target.exists()


def test_extract_corrupt_member_leaves_nothing(tmp_path: Path):
    archive = make_ml100k_zip(tmp_path / "ml-100k.zip")
    # Flip one byte of the first member's stored data so its CRC check fails.
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("ml-100k/u.data")
    data = bytearray(archive.read_bytes())
    data_offset = info.header_offset + 30 + len(info.filename.encode())
    data[data_offset] ^= 0xFF
    archive.write_bytes(bytes(data))
    target = tmp_path / "root"

    with pytest.raises(DownloadError):
        safe_extract_zip(archive, target)

    assert leftover_files(target) == []


def test_ensure_dataset_downloads_and_extracts(served, tmp_path: Path):
    folder, base_url = served
    archive = make_ml100k_zip(folder / "ml-100k.zip")
    spec = spec_for(archive, f"{base_url}/ml-100k.zip")
    root = tmp_path / "data"

    result = ensure_dataset(spec, root)

    assert result == root / "ml-100k"
    assert (root / "ml-100k" / "u.data").is_file()
    assert (root / "ml-100k.zip").read_bytes() == archive.read_bytes()
    assert leftover_files(root) == ["ml-100k", "ml-100k.zip"]


def test_ensure_dataset_checksum_mismatch(served, tmp_path: Path):
    folder, base_url = served
    archive = make_ml100k_zip(folder / "ml-100k.zip")
    spec = dataclasses.replace(spec_for(archive, f"{base_url}/ml-100k.zip"), md5="0" * 32)
    root = tmp_path / "data"

    with pytest.raises(DownloadError) as caught:
        ensure_dataset(spec, root)

    assert "md5" in str(caught.value)
    assert str(root / "ml-100k.zip") in str(caught.value)
    assert leftover_files(root) == []


def test_ensure_dataset_existing_folder(tmp_path: Path):
    (tmp_path / "ml-100k").mkdir()
    spec = dataclasses.replace(ML_100K, url=CLOSED_PORT_URL)

    assert ensure_dataset(spec, tmp_path) == tmp_path / "ml-100k"


def test_ensure_dataset_local_zip_extracted(tmp_path: Path):
    archive = make_ml100k_zip(tmp_path / "ml-100k.zip")
    spec = spec_for(archive, CLOSED_PORT_URL)

    result = ensure_dataset(spec, tmp_path, download=False)

    assert (result / "u.user").read_text() == "1|24|M|technician|85711\n"


def test_ensure_dataset_corrupt_local_zip(tmp_path: Path):
    archive = make_ml100k_zip(tmp_path / "ml-100k.zip")
    spec = dataclasses.replace(spec_for(archive, CLOSED_PORT_URL), md5="0" * 32)

    with pytest.raises(DownloadError) as caught:
        ensure_dataset(spec, tmp_path)

    assert caught.value.path == archive
    assert str(archive) in str(caught.value)
    assert "Delete this file" in str(caught.value)
    assert not (tmp_path / "ml-100k").exists()


def test_ensure_dataset_truncated_local_zip(tmp_path: Path):
    archive = make_ml100k_zip(tmp_path / "ml-100k.zip")
    spec = spec_for(archive, CLOSED_PORT_URL)
    archive.write_bytes(archive.read_bytes()[:-10])

    with pytest.raises(DownloadError) as caught:
        ensure_dataset(spec, tmp_path)

    assert f"expected {spec.size} bytes" in str(caught.value)
    assert "Delete this file" in str(caught.value)


def test_ensure_dataset_no_network(tmp_path: Path):
    spec = dataclasses.replace(ML_100K, url=CLOSED_PORT_URL)
    root = tmp_path / "data"

    with pytest.raises(DownloadError) as caught:
        ensure_dataset(spec, root)

    message = str(caught.value)
    assert "failed" in message
    assert f"download ml-100k.zip from {CLOSED_PORT_URL}" in message
    assert f"place it at {root / 'ml-100k.zip'}" in message
    assert f"so that {root / 'ml-100k' / 'u.data'} exists" in message
    assert root.is_dir()
    assert leftover_files(root) == []


def test_ensure_dataset_download_off(tmp_path: Path):
    spec = dataclasses.replace(ML_100K, url=CLOSED_PORT_URL)

    with pytest.raises(DataError) as caught:
        ensure_dataset(spec, tmp_path, download=False)

    assert not isinstance(caught.value, DownloadError)
    assert "downloading is off" in str(caught.value)
    assert str(tmp_path / "ml-100k.zip") in str(caught.value)


def test_ensure_dataset_archive_without_folder(tmp_path: Path):
    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("other/u.data", "data")
    spec = spec_for(archive, CLOSED_PORT_URL)

    with pytest.raises(DownloadError, match="no top folder ml-100k/"):
        ensure_dataset(spec, tmp_path)


def test_data_root_option_wins(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("GRAPHREC_DATA", str(tmp_path / "env"))

    assert resolve_data_root(tmp_path / "cli") == tmp_path / "cli"
    assert resolve_data_root("~/graphrec-data") == Path.home() / "graphrec-data"


def test_data_root_from_env(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("GRAPHREC_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    assert resolve_data_root(None) == tmp_path / "env"


def test_data_root_from_xdg_cache(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("GRAPHREC_DATA", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    assert resolve_data_root(None) == tmp_path / "cache" / "graphrec" / "data"
    assert not (tmp_path / "cache").exists()


def test_data_root_default(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("GRAPHREC_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    default = tmp_path / ".cache" / "graphrec" / "data"

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert resolve_data_root(None) == default

    # The XDG Base Directory specification requires a relative path to be ignored.
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert resolve_data_root(None) == default
