"""Parse an import file in a forked child while this process writes what it sends.

An import's work splits in two halves of about the same cost: parsing, checking
and encoding each line (Python), and hashing and inserting the rows (Python and
SQLite). Threads would share one GIL, so for a large import into an empty store
(where checking a line never reads the store) a child forked from the importer
runs the very same line checks over the file and sends each batch of rows down a
pipe, while the importer hashes and inserts the previous batch in its one
transaction: the two halves run on two cores at once.

Nothing about the import changes: the rows, their order, the first bad line's
error (rebuilt here as the same exception, same line, same text), all or nothing.
The child touches no database: it inherited the store's connection but never uses
it, and it leaves with os._exit, so it runs no cleanup that could. If the child
dies, the import fails and rolls back; if the importer dies, the child's next send
fails on the closed pipe and it exits.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import pickle
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, NoReturn

import msgpack

from eventstate.backends.base import NewRow
from eventstate.errors import EventStateError, InterchangeError

# Below this many bytes left to parse, forking costs more than it saves.
MIN_FORK_BYTES = 4 * 1024 * 1024
_ROWS, _DONE, _ERROR = 0, 1, 2
_PIPE_BYTES = 1024 * 1024


def can_fork() -> bool:
    # fork() is only dependable on Linux (macOS libraries may not survive it).
    return sys.platform.startswith("linux") and hasattr(os, "fork")


class ForkedParse:
    """The batches `parse` yields, produced in a child process.

    Use as a context manager around the import: leaving it (normally or not)
    ends the child and reaps it. `summary()` is called in the child once it has
    parsed everything; its result is `self.summary` afterwards. When no child can
    be forked (no memory, no process slots left), `parse` simply runs here.
    """

    def __init__(
        self,
        parse: Iterator[list[NewRow]],
        position: Callable[[], int],
        summary: Callable[[], int],
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self._parse = parse
        self._position = position
        self._summarise = summary
        self._progress = progress
        self._pid = 0
        self._inbox: Connection | None = None
        self.summary = 0

    def __enter__(self) -> ForkedParse:
        try:
            read_fd, write_fd = os.pipe()
        except OSError:
            return self
        _widen(write_fd)
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            return self
        if pid == 0:
            os.close(read_fd)
            self._run_child(write_fd)
        os.close(write_fd)
        self._pid = pid
        self._inbox = Connection(read_fd, writable=False)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._inbox is not None:
            self._inbox.close()
            self._inbox = None
        if self._pid:
            # Done or not, the child has nothing more to give: stop it now (a child
            # still parsing after an error would only waste a core) and reap it.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):  # SIGCHLD ignored: reaped already
                os.waitpid(self._pid, 0)
            self._pid = 0

    def __iter__(self) -> Iterator[Sequence[NewRow]]:
        if self._inbox is None:
            return self._parse_here()
        return self._receive(self._inbox)

    def _receive(self, inbox: Connection) -> Iterator[Sequence[NewRow]]:
        unpack = msgpack.unpackb
        while True:
            try:
                message = unpack(inbox.recv_bytes(), use_list=False)
            except (EOFError, OSError):
                raise EventStateError(
                    "import: the process parsing the file ended before it finished"
                ) from None
            kind = message[0]
            if kind == _ROWS:
                yield message[1]
                if self._progress is not None:
                    self._progress(message[2])
            elif kind == _DONE:
                self.summary = message[1]
                return
            else:
                raise pickle.loads(message[1])

    def _parse_here(self) -> Iterator[Sequence[NewRow]]:
        for rows in self._parse:
            yield rows
            if self._progress is not None:
                self._progress(self._position())
        self.summary = self._summarise()

    # --- the child -----------------------------------------------------------

    def _run_child(self, write_fd: int) -> NoReturn:
        # The collector would walk (and so copy, page by page) the whole inherited
        # heap; what the child makes itself it frees as it goes.
        gc.freeze()
        code = 1
        try:
            outbox = Connection(write_fd, readable=False)
            pack = msgpack.Packer(use_bin_type=True, autoreset=True).pack
            try:
                for rows in self._parse:
                    outbox.send_bytes(pack((_ROWS, rows, self._position())))
                outbox.send_bytes(pack((_DONE, self._summarise())))
            except Exception as exc:  # the importer raises it as its own
                outbox.send_bytes(pack((_ERROR, _pickled(exc))))
            code = 0
        except BaseException:  # the importer is gone (a broken pipe): nobody to tell
            pass
        finally:
            os._exit(code)


def _widen(pipe_fd: int) -> None:
    """Let the child run a few batches ahead (a pipe holds 64 KiB, a batch ~400 KiB)."""
    with contextlib.suppress(ImportError, AttributeError, OSError):  # not Linux, or too big
        import fcntl

        fcntl.fcntl(pipe_fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)


def _pickled(exc: Exception) -> bytes:
    """The error as bytes the importer can load (checked here: some exceptions
    pickle but do not unpickle), else an EventStateError with its text."""
    buffer = io.BytesIO()
    try:
        _ErrorPickler(buffer).dump(exc)
        pickle.loads(buffer.getvalue())
    except Exception:
        return pickle.dumps(EventStateError(f"import failed while parsing: {exc}"))
    return buffer.getvalue()


class _ErrorPickler(pickle.Pickler):
    """Pickles InterchangeError, whose constructor takes more than its message."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is InterchangeError:
            return _interchange_error, (obj.line, str(obj))
        return NotImplemented


def _interchange_error(line: int, text: str) -> InterchangeError:
    error = InterchangeError(line, "")
    error.args = (text,)
    return error
