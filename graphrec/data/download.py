"""Download, verify and extract dataset archives into the data root.

A download, and each top-level entry of an extracted archive, is written under
a temporary name first and renamed into place. An interrupted download or
extraction of a one-folder archive therefore leaves nothing under the final name.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO

from tqdm import tqdm

from graphrec.errors import DataError, DownloadError

logger = logging.getLogger(__name__)

# Seconds that a connect or a single read may block before the download fails.
DOWNLOAD_TIMEOUT_S = 60.0
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class ArchiveSpec:
    """A dataset release published as one zip archive.

    ``size`` is in bytes and ``md5`` is a lowercase hex digest. ``folder`` is
    the top folder inside the archive, which extraction places under the data
    root. ``expected_file`` is a file inside ``folder`` that error messages name
    to show the expected layout.
    """

    name: str
    url: str
    size: int
    md5: str
    folder: str
    expected_file: str | None = None


ML_100K = ArchiveSpec(
    "ml-100k",
    "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
    4924029,
    "0e33842e24a9c977be4e0107933c0723",
    "ml-100k",
    expected_file="u.data",
)


def download_file(
    url: str,
    dest: Path,
    expected_size: int | None,
    expected_md5: str | None,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` and return ``dest``.

    The body is streamed into a temporary file in ``dest``'s folder, checked
    against ``expected_size`` (bytes) and ``expected_md5`` when they are given,
    and renamed to ``dest`` only if both match. Raises DownloadError on a
    network failure, a timeout or a mismatch, and removes the temporary file.
    """
    advice = f"Fetch the file by other means and place it at {dest}."
    return _download_file(url, Path(dest), expected_size, expected_md5, progress, advice)


def _download_file(
    url: str,
    dest: Path,
    expected_size: int | None,
    expected_md5: str | None,
    progress: bool,
    advice: str,
) -> Path:
    """Download like download_file, ending every error message with ``advice``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    logger.info("downloading %s to %s", url, dest)

    handle, temp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    temp_path = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            size, md5 = _stream_to_file(url, out, expected_size, progress)
        mismatch = _describe_mismatch(size, md5, expected_size, expected_md5)
        if mismatch:
            raise DownloadError(f"download of {url} {mismatch}. The partial file was deleted. {advice}")
        os.replace(temp_path, dest)
    except (urllib.error.URLError, OSError) as err:
        temp_path.unlink(missing_ok=True)
        raise DownloadError(f"download of {url} failed: {_describe_network_error(err)}. {advice}") from err
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise

    logger.info("downloaded %s (%d bytes)", dest, size)
    return dest


def _stream_to_file(url: str, out: BinaryIO, expected_size: int | None, progress: bool) -> tuple[int, str]:
    """Copy the response body of ``url`` into ``out`` and return (bytes, md5 hex digest).

    Reading stops one chunk past ``expected_size``, so a wrong URL that serves
    a large body fails the size check without being read to the end.
    """
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else expected_size
        with tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], disable=not progress) as bar:
            while True:
                chunk = response.read(CHUNK_BYTES)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                bar.update(len(chunk))
                if expected_size is not None and size > expected_size:
                    break
    return size, digest.hexdigest()


def _describe_mismatch(
    size: int, md5: str, expected_size: int | None, expected_md5: str | None
) -> str | None:
    """Return what differs from the expected size or md5, or None when both match."""
    if expected_size is not None and size != expected_size:
        qualifier = "at least " if size > expected_size else ""
        return f"has the wrong size: expected {expected_size} bytes, got {qualifier}{size}"
    if expected_md5 is not None and md5 != expected_md5.lower():
        return f"has the wrong md5 checksum: expected {expected_md5}, got {md5}"
    return None


def _describe_network_error(err: Exception) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        err = err.reason if isinstance(err.reason, Exception) else err
    if isinstance(err, TimeoutError):
        return f"timed out after {DOWNLOAD_TIMEOUT_S:g} s"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    return str(err)


def file_md5(path: Path) -> str:
    """Return the md5 hex digest of the file at ``path``."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def safe_extract_zip(archive: Path, target: Path) -> None:
    """Extract ``archive`` into the folder ``target``, creating it if needed.

    Every member is checked before anything is written: an absolute path, a
    ``..`` component, a path that resolves outside ``target`` or a symlink
    member raises DownloadError naming the member. The members are extracted
    into a temporary folder inside ``target``, and each top-level entry is then
    moved into ``target`` with one ``os.replace``, so an archive with one top
    folder appears at once. An existing entry of the same name raises
    DownloadError before anything is moved. On any failure the temporary
    folder is removed.
    """
    archive = Path(archive)
    target = Path(target)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for member in members:
                _check_member(archive, member, target)

            target.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=target, prefix=f".{archive.name}.extracting-"))
            try:
                zf.extractall(staging, members)
                _move_entries(archive, staging, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except zipfile.BadZipFile as err:
        raise DownloadError(f"invalid zip archive: {err}. Delete it and download it again.", path=archive) from err


def _check_member(archive: Path, member: zipfile.ZipInfo, target: Path) -> None:
    name = member.filename
    parts = name.replace("\\", "/").split("/")
    windows_path = PureWindowsPath(name)

    if PurePosixPath(name).is_absolute() or windows_path.drive or windows_path.root:
        raise DownloadError(f"rejected zip member {name!r}: absolute path", path=archive)
    if ".." in parts:
        raise DownloadError(f"rejected zip member {name!r}: '..' path component", path=archive)

    mode = member.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise DownloadError(f"rejected zip member {name!r}: symbolic link", path=archive)

    resolved_target = target.resolve()
    resolved = (resolved_target / name).resolve()
    if resolved != resolved_target and resolved_target not in resolved.parents:
        raise DownloadError(f"rejected zip member {name!r}: path escapes {target}", path=archive)


def _move_entries(archive: Path, staging: Path, target: Path) -> None:
    entries = sorted(staging.iterdir())
    for entry in entries:
        destination = target / entry.name
        if destination.exists() or destination.is_symlink():
            raise DownloadError(
                f"cannot extract {archive.name}: {destination} already exists. "
                "Remove it and run again.",
                path=archive,
            )
    for entry in entries:
        os.replace(entry, target / entry.name)


def ensure_dataset(spec: ArchiveSpec, root: Path, download: bool = True) -> Path:
    """Return ``root / spec.folder``, extracting or downloading the archive first if needed.

    The folder is used as it is when it exists. Otherwise an archive already at
    ``root / (spec.name + ".zip")`` is verified and extracted, and without one
    the archive is downloaded there first (only when ``download`` is true).
    Raises DownloadError when the download, the checksum or the extraction
    fails, and DataError when the data is absent and ``download`` is false.
    Both messages name where to place the files by hand.
    """
    root = Path(root).expanduser()
    folder = root / spec.folder
    archive = root / f"{spec.name}.zip"

    if folder.is_dir():
        logger.info("using %s", folder)
        return folder

    if archive.is_file():
        logger.info("verifying %s", archive)
        _verify_archive(spec, archive)
    elif download:
        root.mkdir(parents=True, exist_ok=True)
        _download_file(spec.url, archive, spec.size, spec.md5, True, _manual_install_hint(spec, root))
    else:
        raise DataError(
            f"{spec.name} not found under {root} and downloading is off. "
            + _manual_install_hint(spec, root)
        )

    logger.info("extracting %s into %s", archive, root)
    safe_extract_zip(archive, root)
    if not folder.is_dir():
        raise DownloadError(
            f"archive has no top folder {spec.folder}/. Delete it and run again.", path=archive
        )
    return folder


def _verify_archive(spec: ArchiveSpec, archive: Path) -> None:
    size = archive.stat().st_size
    if size != spec.size:
        raise DownloadError(
            f"corrupt or incomplete archive: expected {spec.size} bytes, got {size}. "
            "Delete this file and run again to download it, or replace it with a good copy.",
            path=archive,
        )
    md5 = file_md5(archive)
    if md5 != spec.md5:
        raise DownloadError(
            f"corrupt archive: expected md5 {spec.md5}, got {md5}. "
            "Delete this file and run again to download it, or replace it with a good copy.",
            path=archive,
        )


def _manual_install_hint(spec: ArchiveSpec, root: Path) -> str:
    extracted = root / spec.folder
    if spec.expected_file:
        extracted = extracted / spec.expected_file
    return (
        f"To install it by hand, download {spec.name}.zip from {spec.url} and place it "
        f"at {root / (spec.name + '.zip')}, or extract it so that {extracted} exists."
    )
