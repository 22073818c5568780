"""Where a run's optimizer chunks execute: the local process pool or a dask cluster.

An executor spec is one of

- ``local`` (the default): today's behaviour, a local process pool of ``--workers`` processes
  (one process: no pool at all);
- ``dask://HOST:PORT`` (optionally ``?timeout=SECONDS``, default 10): connect a
  ``dask.distributed`` client to the scheduler at ``tcp://HOST:PORT`` and run the chunks
  through ``Client.get_executor()``, the same ``concurrent.futures.Executor`` seam as the
  local pool. Inputs are built on this machine, so workers need no database access; they
  need the same Python environment (this package and its solver versions).
- a ready :class:`concurrent.futures.Executor` (tests, programmatic use): used as given and
  left open for its owner to shut down.

:func:`open_executor` is a context manager that yields an :class:`ExecutorChoice` and closes
whatever it opened. ``dask.distributed`` is imported only for a ``dask://`` spec, so the rest
of the engine runs without it installed.
"""
from __future__ import annotations

import contextlib
import math
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

from engine.core.tasks import RefusedError

DEFAULT_TIMEOUT = 10.0
DASK_PORT = 8786
SPEC_HELP = "local (default), dask://HOST:PORT[?timeout=SECONDS]"


@dataclass(frozen=True)
class ExecutorChoice:
    """What :func:`open_executor` yields.

    ``executor`` is None for the local pool (``optimize_accounts`` then forks its own pool of
    ``workers`` processes); ``workers`` is the pool size, or the cluster's total worker
    threads, or None when unknown; ``label`` says where the run ran (stored in the run summary).
    """
    executor: Executor | None
    label: str
    workers: int | None


@dataclass(frozen=True)
class DaskSpec:
    address: str          # tcp://HOST:PORT, what distributed.Client takes
    label: str            # dask://HOST:PORT, as the user wrote it (without options)
    timeout: float


def parse_spec(spec: str) -> str | DaskSpec:
    """``"local"`` or a :class:`DaskSpec`; a spec that is neither is refused with a clear message."""
    text = (spec or "local").strip()
    if text.lower() == "local":
        return "local"
    if not text.lower().startswith("dask://"):
        raise RefusedError(f"--executor {spec!r}: expected {SPEC_HELP}")
    parts = urlsplit(text)
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # port out of range or not a number
        raise RefusedError(f"--executor {spec!r}: bad port ({exc}); expected dask://HOST:PORT") from None
    if not host or parts.path not in ("", "/") or parts.username or parts.fragment:
        raise RefusedError(f"--executor {spec!r}: expected dask://HOST:PORT")
    if port == 0:
        raise RefusedError(f"--executor {spec!r}: port 0 is not a scheduler port; expected dask://HOST:PORT")
    port = DASK_PORT if port is None else port
    timeout = DEFAULT_TIMEOUT
    if parts.query:
        opts = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(opts) - {"timeout"})
        if unknown:
            raise RefusedError(f"--executor {spec!r}: unknown option {unknown[0]!r} (only timeout=SECONDS)")
        try:
            timeout = float(opts["timeout"][-1])
        except ValueError:
            timeout = float("nan")
        if not math.isfinite(timeout) or timeout <= 0:
            raise RefusedError(f"--executor {spec!r}: timeout must be a positive number of seconds")
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return DaskSpec(address=f"tcp://{netloc}", label=f"dask://{netloc}", timeout=timeout)


def describe(executor: Executor) -> tuple[str, int | None]:
    """A label and worker count for a ready Executor."""
    client = getattr(executor, "_client", None)  # distributed's ClientExecutor
    if client is not None and hasattr(client, "nthreads"):
        addr = getattr(getattr(client, "scheduler", None), "address", None) or "?"
        try:
            workers = sum(client.nthreads().values()) or None
        except Exception:  # a closed client: the run will say so when it submits
            workers = None
        return f"dask://{addr.split('://', 1)[-1]}", workers
    workers = getattr(executor, "_max_workers", None)
    return type(executor).__name__, workers if isinstance(workers, int) else None


@contextlib.contextmanager
def open_executor(spec: str | Executor | None = None, *, workers: int | None = None
                  ) -> Iterator[ExecutorChoice]:
    """Yield the executor a run should use; close it (and its dask client) afterwards.

    Raises :class:`RefusedError` (CLI exit 2) for a bad spec, when ``distributed`` is not
    installed, or when the scheduler cannot be reached, or has no worker, within the timeout.
    """
    if isinstance(spec, Executor):
        label, n = describe(spec)
        yield ExecutorChoice(spec, label, workers if workers is not None else n)
        return
    parsed = parse_spec(spec or "local")
    if parsed == "local":
        yield ExecutorChoice(None, "local", workers)
        return
    with _dask_executor(parsed) as choice:
        yield choice


@contextlib.contextmanager
def _dask_executor(spec: DaskSpec) -> Iterator[ExecutorChoice]:
    try:
        from distributed import Client
    except ImportError as exc:
        raise RefusedError(
            f"cannot use the dask cluster at {spec.label}: dask.distributed is not installed "
            f"({exc}); install it with `pip install 'rebalance-desk[dask]'`") from None
    try:
        client = Client(spec.address, timeout=spec.timeout, set_as_default=False)
    except Exception as exc:  # OSError / TimeoutError from the comm layer, with its own reason
        raise RefusedError(f"cannot reach the dask scheduler at {spec.label} within "
                           f"{spec.timeout:g} s: {_reason(exc)}") from None
    executor = None
    try:
        try:
            client.wait_for_workers(1, timeout=spec.timeout)
        except Exception as exc:
            raise RefusedError(f"the dask scheduler at {spec.label} has no worker after "
                               f"{spec.timeout:g} s: start `dask worker tcp://HOST:PORT` on the "
                               f"worker hosts ({_reason(exc)})") from None
        threads = sum(client.nthreads().values()) or None
        # pure=False: every chunk is its own task; no hashing of the inputs for a task key
        executor = client.get_executor(pure=False)
        yield ExecutorChoice(executor, spec.label, threads)
    finally:
        if executor is not None:
            executor.shutdown(wait=False)
        client.close()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
