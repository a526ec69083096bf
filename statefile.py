"""Opening the files of a run folder (and the sweep's logs): never through a symbolic link, never anything but a
regular file, and never for writing a file with other names (a hard link). A planted link could make a write land
outside the folder; a FIFO would block a reader for ever."""
import errno
import os
import stat

from errors import UserError

NOT_REGULAR = "(a FIFO, device or folder)"


class StateError(UserError):
    """A file of a run folder that cannot be trusted: one line naming it (`problem`) and what to do (`hint`), exit
    code 2."""

    def __init__(self, problem, hint=None):
        super().__init__(f"{problem}; {hint}" if hint else problem)
        self.problem = problem


def link_refusal(path):
    """The one line refusing `path`, a symbolic link: a run never follows one (it could lead outside its folder)."""
    return f"{path} is a symbolic link, which a run never follows; remove it"


def hard_link_refusal(path, links):
    """The one line refusing to write `path`, one of `links` names of a file: the write would change it under the
    others too (outside the folder, or a backup made with cp -al)."""
    return (f"{path} is a hard link (one of {links} names of one file), so writing it would change the file under "
            f"its other names too; replace it with a copy of its own (cp {path} x && mv x {path}), or remove it")


def open_regular(path, flags, mode=0o644):
    """A descriptor of `path` opened with `flags` (os.O_*), neither through a symbolic link nor blocking on a FIFO;
    StateError naming `path` when it is a link or not a regular file, or, opened for writing, a hard link."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise StateError(link_refusal(path)) from None
        if e.errno in (errno.ENXIO, errno.EISDIR):
            raise StateError(f"{path} is not a regular file {NOT_REGULAR}; remove it") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise StateError(f"{path} is not a regular file {NOT_REGULAR}; remove it")
    if flags & os.O_ACCMODE != os.O_RDONLY and info.st_nlink > 1:
        os.close(fd)
        raise StateError(hard_link_refusal(path, info.st_nlink))
    os.set_blocking(fd, True)
    return fd


def read_regular(path):
    """The bytes of the regular file `path` (open_regular's checks)."""
    with os.fdopen(open_regular(path, os.O_RDONLY), "rb") as f:
        return f.read()

