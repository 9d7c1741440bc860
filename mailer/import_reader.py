"""Reading and checking an import's rows while the previous batch is written: in a thread, or in a worker
process for big files.

Parsing and validating is Python work that holds the GIL; a thread overlaps it only with the time the
database driver releases the GIL. A worker process runs it on the second CPU for real, at the price of
pickling each batch across a pipe (well under a microsecond per row).
"""

from __future__ import annotations

import multiprocessing
import pickle
import sys
import threading
from queue import Empty, Queue
from typing import Any, Callable, Iterator, TypeVar

T = TypeVar("T")


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
        except BaseException as exc:  # re-raised in the caller's thread
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
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _produce(conn, target: Callable[..., Iterator[tuple[Any, list[str]]]], args: tuple) -> None:
    """Worker process: send ("item", item, problems) per item, then ("end" | "error", exc, problems)."""
    try:
        try:
            for item, problems in target(*args):
                conn.send(("item", item, problems))
            conn.send(("end", None, []))
        except BaseException as exc:
            conn.send(("error", _picklable(exc), []))
    except (BrokenPipeError, EOFError):  # the importer stopped listening (it failed or was interrupted)
        pass
    finally:
        conn.close()


def in_process(target: Callable[..., Iterator[tuple[Any, list[str]]]], args: tuple,
               problems: list[str]) -> Iterator[Any]:
    """The items of target(*args), a generator of (item, new problems) run in a worker process; the
    problems are appended to `problems` as items arrive. A pipe without buffering beyond the OS's keeps
    the worker about one item ahead, so memory stays at two batches."""
    # fork: nothing to re-import and the target needs no pickling; spawn where fork is not safe (macOS).
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    worker = ctx.Process(target=_produce, args=(sender, target, args), name="import-reader", daemon=True)
    worker.start()
    sender.close()  # the worker holds the only writing end: its death is EOF here
    try:
        while True:
            try:
                kind, item, new_problems = receiver.recv()
            except EOFError:
                worker.join()
                raise RuntimeError(f"the import's CSV reader process stopped (exit code {worker.exitcode})") from None
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
