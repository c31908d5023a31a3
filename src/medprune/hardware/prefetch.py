"""Preparing the next batches while the accelerator computes: a producer thread runs the batch iterator (reading,
corrupting, augmenting: numpy and torch work that releases the GIL) a few batches ahead, in order, so the same
random draws happen as without it."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetched(batches: Iterator[T], depth: int = 2) -> Iterator[T]:
    """`batches`, produced up to `depth` ahead in a background thread; an error there is raised here."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in batches:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(_DONE)
        except BaseException as err:  # handed to the consumer, which raises it
            buffer.put(err)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while (item := buffer.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
