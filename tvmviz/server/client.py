"""Push logs to a team server: ``tvmviz ingest --server URL --token TOKEN FILE...``.

Each file is one multipart POST to ``/api/v1/uploads``, streamed from disk (never read whole into
memory); the server's answer is the same report ``ingest --json`` prints locally.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.request
from pathlib import Path

from tvmviz.errors import TvmvizError


def _multipart(path: Path, fields: dict[str, str]):
    """(content type, length, body chunks) of a form with ``fields`` and the file at ``path``."""
    boundary = "tvmviz-" + secrets.token_hex(16)
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items() if v is not None)
    name = path.name.replace('"', "_")
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
             "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = path.stat().st_size

    def chunks():
        yield head
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                yield block
        yield tail
    return f"multipart/form-data; boundary={boundary}", len(head) + size + len(tail), chunks()


def push_file(server: str, token: str, path: str | os.PathLike, label: str | None = None,
              run: str | None = None, timeout: float = 600.0) -> list[dict]:
    """POST one file; the server's reports (one per stored file, several for a zip)."""
    path = Path(path)
    if not path.is_file():
        raise TvmvizError(f"{path}: not a file (push folders as a zip)")
    content_type, length, body = _multipart(path, {"label": label, "run": run})
    req = urllib.request.Request(server.rstrip("/") + "/api/v1/uploads", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": content_type, "Content-Length": str(length)})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            answer = json.loads(resp.read())
    except urllib.error.HTTPError as e:
        try:
            answer = json.loads(e.read())
        except ValueError:
            raise TvmvizError(f"{server}: HTTP {e.code} for {path.name}") from None
        if e.code == 422:  # refused file: a report like any other
            return answer if isinstance(answer, list) else [answer]
        raise TvmvizError(f"{server}: {path.name}: {answer.get('error', e.reason)} (HTTP {e.code})") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise TvmvizError(f"cannot reach {server}: {reason}") from None
    return answer if isinstance(answer, list) else [answer]
