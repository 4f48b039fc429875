"""The one exception type users see: a clear message, never a traceback."""


class TvmvizError(Exception):
    """Bad input or an impossible request, with a message that names the file / node / workload."""


class MissingTransformsError(TvmvizError):
    """A selection needs layout-transform costs that no record gives. Its message says what to do on the command
    line; a page says it in its own words from ``count`` and ``example``."""

    def __init__(self, message: str, count: int, example: str):
        super().__init__(message)
        self.count = count  # distinct transforms without a record
        self.example = example  # one of them: '64c→16c of [1, 1, 56, 56, 64] float32'
