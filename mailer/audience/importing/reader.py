"""Reading and checking an import's rows while the previous batch is written: in a thread, or in a
worker process for big files.

Parsing and validating is Python work that holds the GIL; a thread overlaps it only with the time
the database driver releases the GIL. A worker process runs it on the second CPU for real, at the
price of pickling each batch across a pipe (well under a microsecond per row).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
import threading
from collections.abc import Callable, Iterator
from queue import Empty, Queue
from typing import Any, TypeVar

T = TypeVar("T")
AHEAD = 2  # items (batches) a worker process may have ready before the importer takes them


def in_background(items: Iterator[T]) -> Iterator[T]:
    """The items, produced one ahead by a thread. The caller's thread keeps the database."""
    queue: Queue = Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                queue.put((True, item))
                if stop.is_set():
                    return
            queue.put((False, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, re-raised there
            queue.put((False, exc))
        finally:
            getattr(items, "close", lambda: None)()

    thread = threading.Thread(target=produce, name="import-reader", daemon=True)
    thread.start()
    try:
        while True:
            more, item = queue.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # a producer blocked on the full queue must see the stop
            try:
                queue.get(timeout=0.05)
            except Empty:
                pass
        thread.join()


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.dumps(exc)
        return exc
    except Exception:  # noqa: BLE001 - any pickling failure: send its text instead
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _produce(conn, target: Callable[..., Iterator[tuple[Any, list[str]]]], args: tuple) -> None:
    """Worker process: send ("item", item, problems) per item, then ("end" | "error", exc,
    problems).

    A thread does the sending, with up to AHEAD items queued, so that parsing goes on while the
    importer is still busy with an earlier batch and has not taken the next one off the pipe yet.
    """
    queue: Queue = Queue(maxsize=AHEAD)

    def send() -> None:
        try:
            while (message := queue.get()) is not None:
                conn.send(message)
        except (
            BrokenPipeError,
            EOFError,
            OSError,
        ):  # the importer stopped listening (failed or interrupted)
            os._exit(0)

    sender = threading.Thread(target=send, name="import-sender", daemon=True)
    sender.start()
    try:
        for item, problems in target(*args):
            queue.put(("item", item, problems))
        queue.put(("end", None, []))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent process, re-raised there
        queue.put(("error", _picklable(exc), []))
    queue.put(None)
    sender.join()
    conn.close()


def in_process(
    target: Callable[..., Iterator[tuple[Any, list[str]]]], args: tuple, problems: list[str]
) -> Iterator[Any]:
    """The items of target(*args), a generator of (item, new problems) run in a worker process; the
    problems are appended to `problems` as items arrive. The worker runs at most AHEAD + 1 items
    ahead."""
    # fork: nothing to re-import and the target needs no pickling; spawn where fork is not safe
    # (macOS).
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    worker = ctx.Process(
        target=_produce, args=(sender, target, args), name="import-reader", daemon=True
    )
    worker.start()
    sender.close()  # the worker holds the only writing end: its death is EOF here
    try:
        while True:
            try:
                kind, item, new_problems = receiver.recv()
            except EOFError:
                worker.join()
                raise RuntimeError(
                    f"the import's CSV reader process stopped (exit code {worker.exitcode})"
                ) from None
            problems.extend(new_problems)
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        receiver.close()
        if worker.is_alive():
            worker.terminate()
        worker.join()
