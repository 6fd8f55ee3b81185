"""What a robustness run records: every client operation with its call and
return times on one monotonic clock, as JSON lines, one file per client
(docs/ROBUSTNESS.md, "What a run keeps")."""
import contextlib
import json
import os
import threading
import time

import grpc

# A deadline or a cancel says nothing of whether the call took effect.
UNKNOWN_CODES = {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}


class Clock:
    """Seconds since the run started, on the monotonic clock: every file of a
    run uses this one."""

    def __init__(self):
        self._start = time.monotonic()

    def restart(self):
        """Counts from now (before anything is recorded)."""
        self._start = time.monotonic()

    def now(self):
        return round(time.monotonic() - self._start, 6)

    @property
    def origin(self):
        """Where it counts from, on the monotonic clock (CLOCK_MONOTONIC,
        which registryd's steady clock reads too)."""
        return self._start


class JsonLines:
    """One append-only JSON-lines file, written from any thread."""

    def __init__(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._file = open(path, "a", buffering=1)
        self._lock = threading.Lock()

    def write(self, record):
        line = json.dumps(record, sort_keys=True)
        with self._lock:
            self._file.write(line + "\n")

    def close(self):
        with self._lock:
            self._file.close()


class Operation:
    """One call being recorded: fields set while it runs (`result`, a lease id)
    go into its record."""

    def __init__(self, fields):
        self.fields = fields

    def set(self, **fields):
        self.fields.update(fields)


class History:
    """A client's history: `with history.call("register", node=1, ...) as op:`
    records the call time, then on exit the return time and the outcome: ok,
    failed (with the gRPC code), or unknown (a deadline or a cancel). gRPC
    errors are recorded and swallowed; the caller reads op.fields["outcome"]."""

    def __init__(self, clock, path, client):
        self._clock = clock
        self._out = JsonLines(path)
        self.client = client

    @contextlib.contextmanager
    def call(self, op, **fields):
        operation = Operation(dict(fields, client=self.client, op=op, call=self._clock.now()))
        try:
            yield operation
            operation.fields.setdefault("outcome", "ok")  # unless the caller read a refusal in the answer
        except grpc.RpcError as error:
            code = error.code()
            operation.set(outcome="unknown" if code in UNKNOWN_CODES else "failed", code=code.name,
                          detail=(error.details() or "")[:200])
        finally:
            operation.set(**{"return": self._clock.now()})
            self._out.write(operation.fields)

    def note(self, op, **fields):
        """An event of the client's own, not a call (it stops, it starts)."""
        self._out.write(dict(fields, client=self.client, op=op, call=self._clock.now(), outcome="ok",
                             **{"return": self._clock.now()}))

    def close(self):
        self._out.close()
