"""``tvmviz serve``: the dashboard and the HTTP API from one process, the database's one writer.

The only module of tvmviz that imports Streamlit: it builds ``st.App`` around the repository's ``app.py``
with the API's routes, and tells the pages they run on a team server (sign-in required).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from tvmviz.errors import TvmvizError
from tvmviz.server import api
from tvmviz.server.settings import RpcSetting

APP_SCRIPT = Path(__file__).resolve().parents[2] / "app.py"
TEAM_ENV = "TVMVIZ_TEAM_SERVER"  # set for the pages: sign-in required, identities from OIDC
DEFAULT_SECRETS = APP_SCRIPT.parent / ".streamlit" / "secrets.toml"


def read_secrets(path: str | os.PathLike) -> dict:
    """The server's secrets file: Streamlit's [auth] section (OIDC) and tvmviz's own [tvmviz] section."""
    path = Path(path)
    try:
        secrets = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise TvmvizError(f"{path}: no secrets file; a team server needs OpenID Connect settings there "
                          "(README: Running a team server)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise TvmvizError(f"{path}: not valid TOML ({e})") from None
    auth = secrets.get("auth")
    needed = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
    if not isinstance(auth, dict) or any(not auth.get(k) for k in needed):
        raise TvmvizError(f"{path}: the [auth] section needs {', '.join(needed)} (README: Running a team server)")
    return secrets


def build_app(db: str, secrets: dict, max_upload_mb: int, tracker: RpcSetting = RpcSetting()):
    import streamlit as st

    os.environ["TVMVIZ_DB"] = os.path.abspath(db)
    os.environ[TEAM_ENV] = "1"
    tracker.export()  # the pages read it from the environment of the process
    settings = api.ApiSettings(db=os.path.abspath(db), max_upload_bytes=max_upload_mb * 2**20)
    return st.App(str(APP_SCRIPT), secrets=secrets, routes=api.routes(settings))


def serve(db: str, host: str, port: int, secrets_path: str, max_upload_mb: int,
          tracker: RpcSetting = RpcSetting()) -> None:
    secrets = read_secrets(secrets_path)
    app = build_app(db, secrets, max_upload_mb, tracker)
    app.run(config={"server.address": host, "server.port": port, "server.maxUploadSize": max_upload_mb,
                    "server.headless": True, "client.showErrorDetails": "none", "client.toolbarMode": "viewer"})
