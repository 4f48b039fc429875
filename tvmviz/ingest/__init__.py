"""Turn uploaded files into Sources and pick the format module for each, by content.

Containers are opened here (zip archives, folders, gzip); a UTF-8 BOM is dropped. The format
modules (autotvm, onednn, executor) only ever see one decoded file.
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tvmviz.errors import TvmvizError
from tvmviz.ingest import autotvm
from tvmviz.ingest.base import Source

# Decompressed size above which a gzip or zip member is refused (a "zip bomb" guard).
MAX_DECODED_BYTES = 4 * 1024**3
SNIFF_BYTES = 64 * 1024


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
    """One file to ingest: its content, or the reason it cannot be read at all."""

    name: str
    data: bytes | None
    error: str | None = None
    path: str | None = None  # a file on disk holding exactly ``data``, when there is one


@dataclass(frozen=True)
class FileRef:
    """A file named on the command line or found in a folder, not read yet."""

    name: str  # as shown to the user: the path given, or "folder/relative/path" for a folder's files
    path: Path | None
    error: str | None = None


def list_files(paths: list[str | Path]) -> list[FileRef]:
    """Files and folders (recursively, sorted), without reading them: large sets stay out of memory."""
    out: list[FileRef] = []
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
            if not files:
                out.append(FileRef(str(p), None, "folder holds no files"))
            out.extend(FileRef(f"{p.name}/{f.relative_to(p)}", f) for f in files)
        elif p.is_file():
            out.append(FileRef(str(p), p))
        else:
            out.append(FileRef(str(p), None, "no such file or folder"))
    return out


def read_file(ref: FileRef) -> list[PendingFile]:
    """One file's content (a zip gives its members; gzip is decompressed)."""
    if ref.error:
        return [PendingFile(ref.name, None, ref.error)]
    raw = ref.path.read_bytes()
    items = expand_bytes(ref.name, raw)
    if len(items) == 1 and items[0].data is raw:
        items[0].path = str(ref.path)  # plain file: readers can use it as it is, no copy
    return items


def expand_bytes(name: str, data: bytes) -> list[PendingFile]:
    """One uploaded blob: a zip becomes its members; gzip is decompressed."""
    if data[:4] == b"PK\x03\x04":
        return _zip_members(name, data)
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
                data = f.read(MAX_DECODED_BYTES + 1)
        except (OSError, EOFError) as e:
            return [PendingFile(name, None, f"gzip data is damaged: {e}")]
        if len(data) > MAX_DECODED_BYTES:
            return [PendingFile(name, None, "gzip content is larger than 4 GiB")]
        return expand_bytes(name, data)
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    return [PendingFile(name, data)]


def _zip_members(name: str, data: bytes) -> list[PendingFile]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir() and not Path(m.filename).name.startswith(".")]
    except zipfile.BadZipFile as e:
        return [PendingFile(name, None, f"zip archive is damaged: {e}")]
    if not members:
        return [PendingFile(name, None, "zip archive holds no files")]
    out = []
    for m in sorted(members, key=lambda m: m.filename):
        if m.file_size > MAX_DECODED_BYTES:
            out.append(PendingFile(f"{name}/{m.filename}", None, "member is larger than 4 GiB"))
            continue
        out.extend(expand_bytes(f"{name}/{m.filename}", archive.read(m)))
    return out


def sniff(data: bytes) -> str:
    """The kind of a decoded file, from its content; TvmvizError when no module claims it."""
    if not data or data.isspace():  # (strip() would copy a large file)
        raise TvmvizError("file is empty")
    head = data[:SNIFF_BYTES]
    for module in format_modules():
        kind = module.sniff(head)
        if kind:
            return kind
    raise TvmvizError(f"not a format tvmviz reads ({_describe(head)}); expected {', '.join(all_kinds())}")


def _describe(head: bytes) -> str:
    signatures = {b"\x89PNG": "a PNG image", b"%PDF": "a PDF document", b"\x7fELF": "an ELF binary"}
    for magic, what in signatures.items():
        if head.startswith(magic):
            return f"looks like {what}"
    if b"\x00" in head[:1024]:
        return "binary data"
    first = head.split(b"\n", 1)[0][:60].decode("utf-8", errors="replace")
    if first.count(",") >= 2 and not first.lstrip().startswith("{"):
        return f"looks like CSV: {first!r}"
    return f"starts with {first!r}"


def as_source(item: PendingFile) -> tuple[Source, str | None]:
    """A Source for the item, and the temp file made for it (the caller removes it), if any."""
    if item.path:
        return Source(name=item.name, path=item.path, data=item.data), None
    name, data = item.name, item.data
    fd, path = tempfile.mkstemp(prefix="tvmviz-", suffix=".ingest")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return Source(name=name, path=path, data=data), path
