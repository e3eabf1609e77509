"""A minimal progress bar on stderr (no dependency), shown per batch."""

import sys


def wanted(show: "bool | None", items: int) -> bool:
    """``show`` if given; else on when stderr is a terminal and the input is long."""
    if show is not None:
        return bool(show)
    return items >= 1024 and sys.stderr.isatty()


class Progress:
    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self.total, self.label, self.enabled, self.done = total, label, enabled, 0

    def advance(self, n: int) -> None:
        if not self.enabled:
            return
        self.done += n
        width = 30
        filled = width * self.done // max(self.total, 1)
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                         f"{self.done}/{self.total}")
        if self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()
