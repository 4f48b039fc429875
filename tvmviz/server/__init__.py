"""The team server: who may do what, and the HTTP API beside the dashboard.

- ``accounts``: identities (a signed-in person or an API token), the ownership rules, API tokens (only
  their hashes are stored) and the audit log, all in the run database.
- ``api``: the ``/api/v1`` routes (Starlette, mounted next to the dashboard by ``st.App``).
- ``client``: ``tvmviz ingest --server URL --token TOKEN``, a multipart POST that streams the file.
- ``streamlit_app``: ``tvmviz serve``, the one process that owns the database (the only module of tvmviz
  that imports Streamlit).
- ``cli``: ``serve`` and ``token create|list|revoke``.
"""
