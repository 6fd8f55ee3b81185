"""A registry.v1.Registry/Session stream driven from Python (the cluster and
robustness tests): requests through a queue, responses matched by request_id."""
import itertools
import queue
import threading
import time

import grpc

ANSWER_TIMEOUT = 10  # seconds


class SessionStream:
    """One registry.v1.Registry/Session stream on a Client's channel. Requests
    go through a queue that a generator hands to gRPC (a sentinel half-closes
    the stream); a thread reads the responses and keeps them by request_id.
    Each method sends one request and waits for its response; when the stream
    ended instead, it raises the stream's status as the grpc.RpcError.
    `messages`: the generated registry_pb2 module; `stub`: a
    registry.v1.Registry stub."""

    _END = object()

    def __init__(self, messages, stub, stream_timeout=600, metadata=None, answer_timeout=ANSWER_TIMEOUT):
        self._pb = messages
        self._answer_timeout = answer_timeout
        self._requests = queue.Queue()
        self._ids = itertools.count(1)
        self._changed = threading.Condition()
        self._responses = {}  # request_id -> SessionResponse, until waited for
        self._ended = False
        self._error = None  # the grpc.RpcError that ended the stream; None: it ended OK
        self._call = stub.Session(self._generate(), timeout=stream_timeout, metadata=metadata)
        self._reader = threading.Thread(target=self._read, name="session-reader", daemon=True)
        self._reader.start()

    def _generate(self):
        while True:
            request = self._requests.get()
            if request is SessionStream._END:
                return
            yield request

    def _read(self):
        error = None
        try:
            for response in self._call:
                with self._changed:
                    self._responses[response.request_id] = response
                    self._changed.notify_all()
        except grpc.RpcError as ended:
            error = ended
        finally:
            with self._changed:
                self._ended = True
                self._error = error
                self._changed.notify_all()
            self._requests.put(SessionStream._END)  # the generator need not wait for more

    def send(self, **kind):
        """Sends SessionRequest(**kind) with a request_id of its own; returns that id."""
        with self._changed:
            request_id = next(self._ids)
        self._requests.put(self._pb.SessionRequest(request_id=request_id, **kind))
        return request_id

    def wait(self, request_id, timeout=None):
        """The response to `request_id`; raises the stream's grpc.RpcError when it
        ended without one, AssertionError when none came within `timeout`."""
        timeout = self._answer_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._changed:
            while request_id not in self._responses:
                if self._ended:
                    if self._error is not None:
                        raise self._error
                    raise AssertionError("the session stream ended (OK) without answering request %d" % request_id)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no answer to session request %d within %s s" % (request_id, timeout))
                self._changed.wait(left)
            return self._responses.pop(request_id)

    def _exchange(self, answer, **kind):
        response = self.wait(self.send(**kind))
        if response.WhichOneof("kind") != answer:
            raise AssertionError("session request %r answered by %r, want %s" % (kind, response, answer))
        return getattr(response, answer)

    def open(self, ttl_ms, grace_ms=None):
        fields = dict(ttl_ms=ttl_ms) if grace_ms is None else dict(ttl_ms=ttl_ms, grace_ms=grace_ms)
        return self._exchange("opened", open=self._pb.OpenSession(**fields))

    def resume(self, session_id, token):
        return self._exchange("opened", resume=self._pb.ResumeSession(session_id=session_id, token=token))

    def register(self, service, instance_ids, address="10.5.0.1:80"):
        """[InstanceResult], one per id, in their order."""
        return self.register_instances([self._pb.RegisterRequest(service=service, instance_id=i, address=address)
                                        for i in instance_ids])

    def register_instances(self, requests):
        return list(self._exchange("registered", register=self._pb.SessionRegister(instances=requests)).results)

    def deregister(self, lease_ids):
        return list(self._exchange("deregistered",
                                   deregister=self._pb.SessionDeregister(lease_ids=lease_ids)).results)

    def keep_alive(self):
        return self._exchange("kept_alive", keep_alive=self._pb.SessionKeepAlive())

    def close(self):
        """Closes the session, then half-closes the stream."""
        closed = self._exchange("closed", close=self._pb.CloseSession())
        self.half_close()
        return closed

    def half_close(self):
        self._requests.put(SessionStream._END)

    def end(self, timeout=ANSWER_TIMEOUT):
        """Waits for the stream's end: its status code (grpc.StatusCode.OK when it ended OK)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._ended, timeout):
                raise AssertionError("the session stream did not end within %s s" % timeout)
            return grpc.StatusCode.OK if self._error is None else self._error.code()

    def cancel(self):
        """Breaks the stream, as a client's broken connection or a killed client does."""
        self._call.cancel()
        self._requests.put(SessionStream._END)
        self._reader.join(5)
