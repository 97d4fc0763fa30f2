"""Append-only columns of numbers that a long run keeps on disk rather than in memory.

A million-checkout replication logs a few dozen numbers per checkout (session rows,
gateway times) that are read only once the run is over. A :class:`Spool` keeps the
last ``CHUNK`` values in a typed ``array`` and moves each full chunk to an anonymous
temporary file (removed by the system when closed, or if the process dies), so memory
holds the engine's state, not the log. ``to_numpy()`` reads everything back; runs of
fewer than ``CHUNK`` values never touch the disk.
"""

from __future__ import annotations

import tempfile
from array import array
from collections.abc import Iterable
from typing import IO

import numpy as np

CHUNK = 65_536  # values held in memory per spool (512 KiB of doubles)


class Spool:
    """An append-only column of one ``array`` typecode, spilled to disk a chunk at a time."""

    __slots__ = ("_file", "_spilled", "tail", "typecode")

    def __init__(self, typecode: str) -> None:
        self.typecode = typecode
        self.tail = array(typecode)  # the values not yet spilled
        self._file: IO[bytes] | None = None
        self._spilled = 0

    def __len__(self) -> int:
        return self._spilled + len(self.tail)

    def append(self, value) -> None:
        tail = self.tail
        tail.append(value)
        if len(tail) >= CHUNK:
            self._spill()

    def extend(self, values: Iterable) -> None:
        self.tail.extend(values)
        if len(self.tail) >= CHUNK:
            self._spill()

    def _spill(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - open until close()
        self.tail.tofile(self._file)
        self._spilled += len(self.tail)
        self.tail = array(self.typecode)

    def to_numpy(self) -> np.ndarray:
        """Every value appended, in order, as a new array of the typecode's dtype."""
        out = np.empty(len(self), dtype=np.dtype(self.typecode))
        if self._file is not None:
            self._file.flush()
            self._file.seek(0)
            spilled = out[: self._spilled]
            if self._file.readinto(memoryview(spilled).cast("B")) != spilled.nbytes:
                raise OSError("a spooled column came back short from its temporary file")
            self._file.seek(0, 2)  # appending may go on
        out[self._spilled :] = np.frombuffer(self.tail, dtype=out.dtype)
        return out

    def close(self) -> None:
        """Drop the temporary file (the values are gone)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._spilled = 0
        self.tail = array(self.typecode)
