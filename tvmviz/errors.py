"""The one exception type users see: a clear message, never a traceback."""


class TvmvizError(Exception):
    """Bad input or an impossible request, with a message that names the file / node / workload."""
