"""Reader stub: to be written (see issue 2). Contract in surgescope.sources."""

from surgescope.sources.base import InputError


def sniff(head: bytes) -> bool:
    return False


def read(path, rejections, **options):
    raise InputError(f"{path}: the accesslog reader is not written yet")
    yield
