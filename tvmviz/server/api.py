"""The HTTP API, ``/api/v1``: JSON in and out, ``Authorization: Bearer TOKEN`` on every request.

- ``POST /api/v1/uploads`` (multipart: ``file``, optional ``label``, ``run``): 201 with the object
  ``tvmviz ingest --json`` prints for the file (a list of them for a zip of several logs); 200 with
  ``"duplicate": true`` when the same bytes are stored already; 422 when the file is refused; 401 without a
  valid token; 411 without a Content-Length; 413 over the size limit (checked before the body is read).
- ``GET /api/v1/uploads``: ``[{"upload_id", "uploader", "label", "kind", "rows", "sha256", "run_id"}]``.
- ``DELETE /api/v1/uploads/{id}``: 204 for the owner or an admin, 403 for others, 404 if gone.
- ``GET /api/v1/runs``: what ``tvmviz runs --json`` prints.
- ``GET /api/v1/runs/{id}/selection?solver=dp|pbqp|exact&s=SCENARIO`` (optional ``estimate=1``): the object
  ``tvmviz select --format json`` prints for the run, under the What-if scenario string of a shared link;
  404 for an unknown run, 422 when the run cannot be selected (what it lacks is in the message).

Store work runs in worker threads on its own cursor of the process's one connection, so the dashboard
stays responsive while a large upload is ingested.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tvmviz.errors import TvmvizError
from tvmviz.runs import list_runs, resolve_run, run_inputs
from tvmviz.runs.catalog import run_exists
from tvmviz.server import accounts
from tvmviz.server.accounts import Gone
from tvmviz.store import process_store


@dataclass(frozen=True)
class ApiSettings:
    db: str
    max_upload_bytes: int


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _safe_name(name: str) -> str:
    """A file name as a client sent it, reduced to its last part with no path or control characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip() or "upload"
    return base[:200]


def routes(settings: ApiSettings) -> list[Route]:
    async def run(fn, *args):
        def work():
            store = process_store(settings.db).cursor()
            try:
                return fn(store, *args)
            finally:
                store.close()
        return await anyio.to_thread.run_sync(work)

    async def identity(request: Request) -> accounts.Identity | None:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return await run(lambda store: accounts.token_identity(store.con, token.strip()))

    async def post_upload(request: Request) -> Response:
        who = await identity(request)
        if who is None:
            return _error(401, "a valid API token is needed: Authorization: Bearer TOKEN (tvmviz token create)")
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            return _error(411, "send the upload with a Content-Length")
        limit_mb = settings.max_upload_bytes // 2**20
        if int(length) > settings.max_upload_bytes + 64 * 1024:  # the form's own bytes on top of the file
            return _error(413, f"the upload is {int(length) / 2**20:.0f} MB; this server takes up to {limit_mb} MB")
        try:
            form = await request.form(max_files=1, max_fields=4, max_part_size=64 * 1024)
        except Exception as e:  # a malformed multipart body: Starlette raises several kinds
            return _error(400, f"not a multipart form upload with a 'file' field: {e}")
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return _error(400, "no 'file' field in the form")
        label = form.get("label") or None
        run_name = form.get("run") or None
        try:
            run_id = await run(lambda store: resolve_run(store, run_name)) if run_name else None
        except TvmvizError as e:
            return _error(404, str(e))
        tmp = tempfile.mkdtemp(prefix="tvmviz-api-")
        try:
            name = _safe_name(upload.filename)
            path = os.path.join(tmp, "upload")
            with open(path, "wb") as out:
                shutil.copyfileobj(upload.file, out, 1 << 20)
            reports = await run(lambda store: accounts.ingest_file_as(store, who, path, name, label=label, run=run_id))
        finally:
            await upload.close()
            shutil.rmtree(tmp, ignore_errors=True)
        body = [r.to_json() for r in reports]
        if all(r.error for r in reports):
            status = 422
        elif all(r.duplicate for r in reports if not r.error):
            status = 200
        else:
            status = 201
        return JSONResponse(body[0] if len(body) == 1 else body, status_code=status)

    async def list_uploads(request: Request) -> Response:
        if await identity(request) is None:
            return _error(401, "a valid API token is needed: Authorization: Bearer TOKEN")
        uploads = await run(lambda store: store.uploads())
        return JSONResponse([{"upload_id": u.upload_id, "uploader": u.uploader, "label": u.label, "kind": u.kind,
                              "rows": u.rows, "sha256": u.sha256, "run_id": getattr(u, "run_id", None)}
                             for u in uploads])

    async def delete_upload(request: Request) -> Response:
        who = await identity(request)
        if who is None:
            return _error(401, "a valid API token is needed: Authorization: Bearer TOKEN")
        try:
            await run(lambda store: accounts.delete_as(store, who, int(request.path_params["upload_id"])))
        except accounts.Forbidden as e:
            return _error(403, str(e))
        except accounts.Gone as e:
            return _error(404, str(e))
        except TvmvizError as e:
            return _error(400, str(e))
        return Response(status_code=204)

    async def list_runs_route(request: Request) -> Response:
        if await identity(request) is None:
            return _error(401, "a valid API token is needed: Authorization: Bearer TOKEN")
        return JSONResponse(await run(lambda store: [r.to_json() for r in list_runs(store)]))

    async def run_selection(request: Request) -> Response:
        if await identity(request) is None:
            return _error(401, "a valid API token is needed: Authorization: Bearer TOKEN")
        run_id = int(request.path_params["run_id"])
        solver = request.query_params.get("solver") or "dp"
        if solver not in ("dp", "pbqp", "exact"):
            return _error(400, f"solver {solver!r}: choose dp, pbqp or exact")
        scenario = request.query_params.get("s") or ""
        estimate = request.query_params.get("estimate", "") in ("1", "true", "yes")

        def selection(store):
            from tvmviz.select import Scenario, SelectOptions, select

            if not run_exists(store.con, run_id):
                raise Gone(f"run {run_id} does not exist")
            graph, tuning, transforms, _ = run_inputs(store, run_id)
            opts = SelectOptions(solver=solver, estimate_transforms=estimate)
            if scenario:
                opts = Scenario.from_string(scenario).options(opts)
            return select(graph, tuning, transforms, opts).to_json()
        try:
            return JSONResponse(await run(selection))
        except Gone as e:
            return _error(404, str(e))
        except TvmvizError as e:
            return _error(422, str(e))

    return [
        Route("/api/v1/runs", list_runs_route, methods=["GET"]),
        Route("/api/v1/runs/{run_id:int}/selection", run_selection, methods=["GET"]),
        Route("/api/v1/uploads", post_upload, methods=["POST"]),
        Route("/api/v1/uploads", list_uploads, methods=["GET"]),
        Route("/api/v1/uploads/{upload_id:int}", delete_upload, methods=["DELETE"]),
    ]
