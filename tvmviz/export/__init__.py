"""Files for other tools and reviewers: Google Model Explorer node data (``model_explorer``) and the
``python -m tvmviz report`` command (``cli``) that writes the report zip from logs or a stored run."""
