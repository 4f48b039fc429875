"""Turn uploaded files into Sources and pick the format module for each, by content.

Containers are opened here (zip archives, folders, gzip); a UTF-8 BOM is dropped. The format
modules (autotvm, onednn, executor) only ever see one decoded file.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from tvmviz.errors import TvmvizError
from tvmviz.ingest import autotvm
from tvmviz.ingest.base import Source

# Limits of one upload (a file given, or one dropped on the Data page), enforced while it is read:
MAX_DECODED_BYTES = 4 * 1024**3  # decompressed bytes of all its gzip / zip content together
MAX_FILES = 100  # files one archive (with the archives inside it) may give
MAX_NESTING = 3  # containers inside containers: a zip of gzipped logs is 2
SNIFF_BYTES = 64 * 1024
_CHUNK = 1 << 20


def format_modules() -> list:
    """Format modules in sniffing order; the AutoTVM reader first, it is the strictest."""
    from tvmviz.ingest import executor, model, onednn, run_plan  # model imports the graph package: load it late

    return [autotvm, onednn, executor, model, run_plan]


def module_for_kind(kind: str):
    for module in format_modules():
        if kind in module.KINDS:
            return module
    raise TvmvizError(f"unknown kind {kind!r}; known kinds: {', '.join(all_kinds())}")


def all_kinds() -> list[str]:
    return [k for m in format_modules() for k in m.KINDS]


@dataclass
class PendingFile:
    """One file to ingest: a decoded file on disk (gunzipped, unzipped, BOM dropped), or the reason
    it cannot be read at all. Never its content in memory."""

    name: str
    path: str | None
    error: str | None = None


@dataclass(frozen=True)
class FileRef:
    """A file named on the command line or found in a folder, not read yet."""

    name: str  # as shown to the user: the path given, or "folder/relative/path" for a folder's files
    path: Path | None
    error: str | None = None


def list_files(paths: list[str | Path]) -> list[FileRef]:
    """Files and folders (recursively, sorted), without reading them: large sets stay out of memory.
    Symbolic links and special files (devices, pipes, sockets) are skipped with a note: a folder of
    logs must not lead the reader elsewhere on the server."""
    out: list[FileRef] = []
    for p in map(Path, paths):
        if p.is_symlink():
            out.append(FileRef(str(p), None, "a symbolic link: skipped (give the file it points to)"))
        elif p.is_dir():
            found = sorted(f for f in _walk(p) if not f.name.startswith("."))
            if not found:
                out.append(FileRef(str(p), None, "folder holds no files"))
            for f in found:
                name = f"{p.name}/{f.relative_to(p)}"
                out.append(FileRef(name, f) if _is_regular(f) else FileRef(name, None, _not_regular(f)))
        elif p.is_file():
            out.append(FileRef(str(p), p))
        elif p.exists():
            out.append(FileRef(str(p), None, _not_regular(p)))
        else:
            out.append(FileRef(str(p), None, "no such file or folder"))
    return out


def _walk(folder: Path):
    """Every entry under a folder, not following symbolic links to folders."""
    for root, dirs, files in os.walk(folder, followlinks=False):
        for d in dirs:
            if os.path.islink(os.path.join(root, d)):
                yield Path(root, d)
        for f in files:
            yield Path(root, f)


def _is_regular(p: Path) -> bool:
    return not p.is_symlink() and p.is_file()


def _not_regular(p: Path) -> str:
    return "a symbolic link: skipped" if p.is_symlink() else "not a regular file (device, pipe or socket): skipped"


class _Budget:
    """What one upload may still decompress, and how many files it may still give."""

    def __init__(self) -> None:
        self.bytes_left = MAX_DECODED_BYTES
        self.files_left = MAX_FILES

    def charge(self, n: int) -> None:
        self.bytes_left -= n
        if self.bytes_left < 0:
            raise _OverBudget(f"decompressed content is over the {MAX_DECODED_BYTES // 1024**3} GiB limit of one upload")


class _OverBudget(Exception):
    pass


def read_file(ref: FileRef, tmp_dir: str | None = None):
    """One file's content, as PendingFiles (a zip gives its members; gzip is decompressed). A
    generator: each decoded temp file is removed when the next one is asked for."""
    if ref.error:
        yield PendingFile(ref.name, None, ref.error)
        return
    try:
        f = open(ref.path, "rb")
    except OSError as e:
        yield PendingFile(ref.name, None, f"cannot be read ({e.strerror or type(e).__name__})")  # never its content
        return
    with f:
        yield from _expand(ref.name, f, str(ref.path), tmp_dir, _Budget(), 0)


def expand_upload(name: str, data, tmp_dir: str | None = None):
    """One uploaded blob (bytes, or a binary file object): like read_file."""
    f = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    yield from _expand(name, f, None, tmp_dir, _Budget(), 0)


def _expand(name: str, f, path: str | None, tmp_dir, budget: _Budget, depth: int):
    """``f`` (seekable, at its start) decoded: a zip gives its members, gzip its content, each
    streamed to a temp file within the budget; ``path`` is f's own file, used as it is when plain."""
    head = f.read(4)
    f.seek(0)
    if head[:4] == b"PK\x03\x04" or head[:2] == b"\x1f\x8b":
        if depth >= MAX_NESTING:
            yield PendingFile(name, None, f"archives nested more than {MAX_NESTING} deep: not opened")
            return
        if head[:2] == b"\x1f\x8b":
            yield from _gunzip(name, f, tmp_dir, budget, depth)
        else:
            yield from _unzip(name, f, tmp_dir, budget, depth)
        return
    if budget.files_left <= 0:
        yield PendingFile(name, None, f"over the limit of {MAX_FILES} files in one upload: not read")
        return
    budget.files_left -= 1
    if path is not None and head[:3] != b"\xef\xbb\xbf":
        yield PendingFile(name, path)  # a plain file on disk: readers use it as it is, no copy
        return
    if head[:3] == b"\xef\xbb\xbf":
        f.seek(3)
    with _TempFile(tmp_dir) as tmp:
        shutil.copyfileobj(f, tmp.file, _CHUNK)
        tmp.file.close()
        yield PendingFile(name, tmp.path)


class _TempFile:
    """A temp file for decoded content, removed on exit (named .partial: swept at start if left)."""

    def __init__(self, tmp_dir: str | None):
        fd, self.path = tempfile.mkstemp(prefix="tvmviz-", suffix=".ingest.partial", dir=tmp_dir)
        self.file = os.fdopen(fd, "wb")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)


def _stream_decoded(name: str, reader, tmp_dir, budget: _Budget, depth: int, what: str):
    """Copy a decompressing reader into a temp file in chunks, charging the budget, then expand it
    (it may be an archive again). Damaged data is the file's reason, never an exception."""
    with _TempFile(tmp_dir) as tmp:
        try:
            while chunk := reader.read(_CHUNK):
                budget.charge(len(chunk))
                tmp.file.write(chunk)
        except _OverBudget as e:
            yield PendingFile(name, None, str(e))
            return
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile, RuntimeError, NotImplementedError, ValueError) as e:
            yield PendingFile(name, None, f"{what} is damaged or unsupported: {_short(e)}")
            return
        tmp.file.close()
        with open(tmp.path, "rb") as decoded:
            yield from _expand(name, decoded, tmp.path, tmp_dir, budget, depth + 1)


def _gunzip(name: str, f, tmp_dir, budget: _Budget, depth: int):
    with gzip.GzipFile(fileobj=f) as reader:
        yield from _stream_decoded(name, reader, tmp_dir, budget, depth, "gzip data")


def _unzip(name: str, f, tmp_dir, budget: _Budget, depth: int):
    try:
        archive = zipfile.ZipFile(f)
        members = [m for m in archive.infolist() if not m.is_dir() and not Path(m.filename).name.startswith(".")]
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
        yield PendingFile(name, None, f"zip archive is damaged: {_short(e)}")
        return
    if not members:
        yield PendingFile(name, None, "zip archive holds no files")
        return
    if len(members) > budget.files_left:
        yield PendingFile(name, None, f"zip archive holds {len(members):,} files, over the limit of {MAX_FILES} "
                                      "files in one upload: none read (split it, or zip fewer, larger logs)")
        return
    declared = sum(m.file_size for m in members)
    if declared > budget.bytes_left:
        yield PendingFile(name, None, f"zip archive declares {declared / 1024**3:.1f} GiB of content, over the "
                                      f"{MAX_DECODED_BYTES // 1024**3} GiB limit of one upload: none read")
        return
    with archive:
        for m in sorted(members, key=lambda m: m.filename):
            member = f"{name}/{m.filename}"
            try:
                reader = archive.open(m)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, ValueError, EOFError) as e:
                yield PendingFile(member, None, f"zip member cannot be read: {_short(e)}")  # encrypted, deflate64...
                continue
            with reader:
                yield from _stream_decoded(member, reader, tmp_dir, budget, depth, "zip member")


def _short(e: Exception) -> str:
    text = str(e) or type(e).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def sniff(path: str) -> str:
    """The kind of a decoded file, from its content; TvmvizError when no module claims it."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
        if not head.strip() and not _has_content(f):  # (never the whole file in memory)
            raise TvmvizError("file is empty")
    for module in format_modules():
        kind = module.sniff(head)
        if kind:
            return kind
    raise TvmvizError(f"not a format tvmviz reads ({_describe(head)}); expected {', '.join(all_kinds())}")


def _has_content(f) -> bool:
    while chunk := f.read(_CHUNK):
        if chunk.strip():
            return True
    return False


def _describe(head: bytes) -> str:
    signatures = {b"\x89PNG": "a PNG image", b"%PDF": "a PDF document", b"\x7fELF": "an ELF binary"}
    for magic, what in signatures.items():
        if head.startswith(magic):
            return f"looks like {what}"
    if b"\x00" in head[:1024]:
        return "binary data"
    first = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    if first.count(",") >= 2 and not first.lstrip().startswith("{"):
        return "looks like CSV"
    return "text in no form tvmviz knows"  # never the content: it may be anything, a key file say


def as_source(item: PendingFile) -> Source:
    return Source(name=item.name, path=item.path)
