"""The traffic of a robustness run: clients of registryd, each a thread
with a history of its own (recorder.History). Every client talks to every
node: when one fails it tries the next, as a client given the cluster's
addresses does. What each does and when is drawn from the run's seed by the
harness (plans); the clients only follow their plans."""
import random
import threading

import grpc

from recorder import History, JsonLines
from session_stream import SessionStream

CALL_TIMEOUT = 1.0  # seconds: every unary call's deadline
# gRPC's reconnect backoff (1 s, growing to 120 s) scaled down with the
# TTLs (2 s here, 60 s by default). And the resolver's cooldown: a channel
# whose connection failed re-resolves its address, for an IP literal too, at
# most every dns_min_time_between_resolutions_ms, and until then stays
# failed: measured with Debian's grpcio 1.51, a client of a node restarted
# after 3 s down got through only 10 s after the restart.
CHANNEL_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 500),
                   ("grpc.dns_min_time_between_resolutions_ms", 100)]


def channel(address):
    return grpc.insecure_channel(address, options=CHANNEL_OPTIONS)


class Env:
    """What the clients share: the generated messages, the nodes' addresses
    (as clients reach them), the clock, the run's directory, and the stop flag."""

    def __init__(self, pb, addresses, clock, run_dir, ttl_ms):
        self.pb = pb
        self.addresses = addresses
        self.clock = clock
        self.run_dir = run_dir
        self.ttl_ms = ttl_ms
        self.stopping = threading.Event()
        self._kept = []  # channels of clients that went silent: open until the run ends
        self._kept_lock = threading.Lock()

    def keep_open(self, channels):
        with self._kept_lock:
            self._kept.append(channels)

    def close_kept_channels(self):
        with self._kept_lock:
            kept, self._kept = self._kept, []
        for channels in kept:
            channels.close()

    def wait_until(self, t):
        """Sleeps until run time `t`; False when the run is stopping."""
        while True:
            left = t - self.clock.now()
            if left <= 0:
                return not self.stopping.is_set()
            if self.stopping.wait(min(left, 0.2)):
                return False


class Channels:
    """One channel per node for one client; `stub(i)` is node i's Registry stub."""

    def __init__(self, env):
        self._channels = [channel(address) for address in env.addresses]
        self._stubs = [env.pb.registry_pb2_grpc.RegistryStub(channel) for channel in self._channels]

    def __len__(self):
        return len(self._stubs)

    def stub(self, i):
        return self._stubs[i % len(self._stubs)]

    def close(self):
        for channel in self._channels:
            channel.close()


class LeaseClient(threading.Thread):
    """An instance with a lease of its own: registers through some node,
    renews every TTL/3 through the next node in turn (any node renews any
    lease), and on NOT_FOUND registers again as `registryctl keep` does. Its
    plan: deregister at `deregister_at` (and carry on with a new instance id),
    and/or stop for good at `stop_at` (it goes silent, its lease must expire)."""

    def __init__(self, env, name, plan):
        super().__init__(name=name, daemon=True)
        self.env = env
        self.plan = plan
        self.rng = random.Random(plan["seed"])
        self.history = History(env.clock, "%s/clients/%s.jsonl" % (env.run_dir, name), name)
        self.channels = Channels(env)
        self.node = self.rng.randrange(len(self.channels))
        self.generation = 0

    def _request(self, instance):
        pb = self.env.pb.registry_pb2
        return pb.RegisterRequest(service=self.plan["service"], instance_id=instance,
                                  address="10.9.%d.%d:80" % (self.generation % 250, self.rng.randrange(1, 250)),
                                  ttl_ms=self.env.ttl_ms)

    def _register(self, instance):
        """Registers through one node after another until one acknowledges; the lease, or None once stopping."""
        while not self.env.stopping.is_set():
            with self.history.call("register", node=self.node % len(self.channels), service=self.plan["service"],
                                   instance=instance, ttl_ms=self.env.ttl_ms) as op:
                reply = self.channels.stub(self.node).Register(self._request(instance), timeout=CALL_TIMEOUT)
                op.set(lease=reply.lease_id)
            if op.fields["outcome"] == "ok":
                return reply.lease_id
            self.node += 1
            self.env.stopping.wait(0.05)
        return None

    def run(self):
        period = self.env.ttl_ms / 3000.0
        deregister_at = self.plan.get("deregister_at")
        stop_at = self.plan.get("stop_at")
        try:
            while not self.env.stopping.is_set():
                instance = "%s-%d" % (self.name, self.generation)
                lease = self._register(instance)
                if lease is None:
                    return
                next_renewal = self.env.clock.now() + period
                while self.env.wait_until(next_renewal):
                    now = self.env.clock.now()
                    if stop_at is not None and now >= stop_at:
                        self.history.note("stop", service=self.plan["service"], instance=instance, lease=lease)
                        return
                    if deregister_at is not None and now >= deregister_at:
                        deregister_at = None
                        if self._deregister(instance, lease):
                            self.generation += 1
                            break
                    lease = self._renew(instance, lease)
                    if lease is None:
                        return
                    next_renewal += period
        finally:
            self.channels.close()
            self.history.close()

    def _renew(self, instance, lease):
        """One renewal, through the next node and, while nodes fail, the ones
        after it; the lease (a new one after NOT_FOUND), None once stopping."""
        pb = self.env.pb.registry_pb2
        for _ in range(len(self.channels)):
            self.node += 1
            with self.history.call("renew", node=self.node % len(self.channels), service=self.plan["service"],
                                   instance=instance, lease=lease) as op:
                self.channels.stub(self.node).Heartbeat(pb.HeartbeatRequest(lease_id=lease), timeout=CALL_TIMEOUT)
            if op.fields["outcome"] == "ok":
                return lease
            if op.fields.get("code") == "NOT_FOUND":
                return self._register(instance)
        return lease

    def _deregister(self, instance, lease):
        pb = self.env.pb.registry_pb2
        for _ in range(len(self.channels)):
            with self.history.call("deregister", node=self.node % len(self.channels), service=self.plan["service"],
                                   instance=instance, lease=lease) as op:
                self.channels.stub(self.node).Deregister(pb.DeregisterRequest(lease_id=lease), timeout=CALL_TIMEOUT)
            if op.fields["outcome"] == "ok" or op.fields.get("code") == "NOT_FOUND":
                return True
            self.node += 1
        return False


class SessionClient(threading.Thread):
    """A session holding a few instances: opens it on some node, registers
    its instances, keeps it alive every TTL/3; when its stream breaks it
    resumes the session on the next node; when the session is gone it opens
    a new one and registers the same instances into it. Its plan: deregister one instance
    (`deregister_at`), close the session (`close_at`: a new session with new
    instance ids follows), or stop (`stop_at`): silent with its stream open,
    or with its stream cancelled (`stop_by_cancel`), as a hung or a crashed
    client."""

    def __init__(self, env, name, plan):
        super().__init__(name=name, daemon=True)
        self.env = env
        self.plan = dict(plan)  # it changes as the plan is carried out
        self.rng = random.Random(plan["seed"])
        self.history = History(env.clock, "%s/clients/%s.jsonl" % (env.run_dir, name), name)
        self.channels = Channels(env)
        self.node = self.rng.randrange(len(self.channels))
        self.generation = 0
        self.stopped_silent = False
        self.stream = None
        self.session = None  # (id, token)
        self.instances = {}  # instance id -> (service, lease)

    def _stream(self):
        self.stream = SessionStream(self.env.pb.registry_pb2, self.channels.stub(self.node), stream_timeout=3600,
                                    answer_timeout=CALL_TIMEOUT)
        return self.stream

    def _open(self):
        """Opens a session on one node after another until one answers; False once stopping."""
        while not self.env.stopping.is_set():
            stream = self._stream()
            with self.history.call("open", node=self.node % len(self.channels), ttl_ms=self.env.ttl_ms,
                                   grace_ms=self.plan["grace_ms"]) as op:
                opened = self._answer(stream.open, self.env.ttl_ms, self.plan["grace_ms"])
                op.set(session=opened.session_id)
            if op.fields["outcome"] == "ok":
                self.session = (opened.session_id, opened.token)
                return True
            stream.cancel()
            self.node += 1
            self.env.stopping.wait(0.05)
        return False

    def _answer(self, method, *args):
        """A session request's answer; its stream's end as the grpc.RpcError,
        and no answer within the deadline as DEADLINE_EXCEEDED."""
        try:
            return method(*args)
        except AssertionError as no_answer:
            raise NoAnswer(str(no_answer))

    def _register(self):
        pb = self.env.pb.registry_pb2
        services = self.plan["services"]
        wanted = ["%s-%d-%d" % (self.name, self.generation, i) for i in range(self.plan["instances"])]
        requests = [pb.RegisterRequest(service=services[i % len(services)], instance_id=instance,
                                       address="10.8.%d.%d:80" % (self.generation % 250, i + 1))
                    for i, instance in enumerate(wanted)]
        with self.history.call("session_register", node=self.node % len(self.channels), session=self.session[0],
                               instances=[[r.service, r.instance_id] for r in requests]) as op:
            results = self._answer(self.stream.register_instances, requests)
            op.set(results=[[r.code, r.lease_id] for r in results])
            if any(r.code != 0 for r in results):
                op.set(outcome="failed", code="PER_INSTANCE")
        if op.fields["outcome"] == "ok":
            for request, result in zip(requests, results):
                self.instances[request.instance_id] = (request.service, result.lease_id)
        return op.fields["outcome"] == "ok"

    def _resume(self):
        """Resumes the session on the next nodes in turn; False when the
        session is gone (NOT_FOUND, PERMISSION_DENIED) or the run stops."""
        while not self.env.stopping.is_set():
            self.stream.cancel()
            self.node += 1
            stream = self._stream()
            with self.history.call("resume", node=self.node % len(self.channels), session=self.session[0]) as op:
                self._answer(stream.resume, *self.session)
            if op.fields["outcome"] == "ok":
                return True
            if op.fields.get("code") in ("NOT_FOUND", "PERMISSION_DENIED", "FAILED_PRECONDITION"):
                return False
            self.env.stopping.wait(0.1)
        return False

    def run(self):
        try:
            while not self.env.stopping.is_set():
                self.instances = {}
                if not self._open():
                    return
                while not self._register():
                    if not self._resume():
                        break
                else:
                    ended = self._keep()
                    if ended == "closed":
                        self.generation += 1  # a new session, with new instance ids
                    if ended not in ("closed", "lost"):
                        return
                # A lost session: a new one, holding the same instances (a
                # registration moves each into it, unseen by watchers).
        finally:
            if self.stopped_silent:
                self.env.keep_open(self.channels)  # its stream stays open, silent
            else:
                if self.stream is not None:
                    self.stream.cancel()
                self.channels.close()
            self.history.close()

    def _keep(self):
        """Keeps the session until the plan ends it: "closed", or "stopped"/"lost"/"stopping"."""
        period = self.env.ttl_ms / 3000.0
        next_refresh = self.env.clock.now() + period
        while self.env.wait_until(next_refresh):
            now = self.env.clock.now()
            plan = self.plan
            if plan.get("stop_at") is not None and now >= plan["stop_at"]:
                self.history.note("stop", session=self.session[0], cancel=bool(plan.get("stop_by_cancel")),
                                  instances=sorted([service, i] for i, (service, _) in self.instances.items()))
                if plan.get("stop_by_cancel"):
                    self.stream.cancel()
                else:
                    self.stopped_silent = True  # its stream stays open, and nothing more is sent on it
                return "stopped"
            if plan.get("close_at") is not None and now >= plan["close_at"]:
                plan["close_at"] = None
                with self.history.call("close", node=self.node % len(self.channels), session=self.session[0],
                                       instances=sorted([s, i] for i, (s, _) in self.instances.items())) as op:
                    self._answer(self.stream.close)
                if op.fields["outcome"] == "ok":
                    return "closed"
            if plan.get("deregister_at") is not None and now >= plan["deregister_at"] and self.instances:
                plan["deregister_at"] = None
                instance, (service, lease) = sorted(self.instances.items())[0]
                with self.history.call("session_deregister", node=self.node % len(self.channels),
                                       session=self.session[0], service=service, instance=instance, lease=lease) as op:
                    results = self._answer(self.stream.deregister, [lease])
                    op.set(results=[[r.code, r.lease_id] for r in results])
                    if any(r.code != 0 for r in results):
                        op.set(outcome="failed", code="PER_INSTANCE")
                if op.fields["outcome"] == "ok":
                    del self.instances[instance]
            with self.history.call("keep_alive", node=self.node % len(self.channels), session=self.session[0]) as op:
                self._answer(self.stream.keep_alive)
            if op.fields["outcome"] != "ok" and not self._resume():
                self.history.note("lost", session=self.session[0])
                return "lost"
            next_refresh += period
        return "stopping"


class NoAnswer(grpc.RpcError):
    """No answer on a session stream within its wait: recorded as unknown."""

    def __init__(self, details):
        super().__init__(details)
        self._details = details

    def code(self):
        return grpc.StatusCode.DEADLINE_EXCEEDED

    def details(self):
        return self._details


class Watcher(threading.Thread):
    """A Watch of every service on one node, resumed from the last revision
    it completed whenever its stream ends. Every response is recorded, with
    its receipt time."""

    def __init__(self, env, name, node):
        super().__init__(name=name, daemon=True)
        self.env = env
        self.node = node
        self.out = JsonLines("%s/watches/%s.jsonl" % (env.run_dir, name))
        self.channel = channel(env.addresses[node])
        self.stub = env.pb.registry_pb2_grpc.RegistryStub(self.channel)
        self.call = None
        self._lock = threading.Lock()

    def run(self):
        pb = self.env.pb.registry_pb2
        since = 0
        try:
            while not self.env.stopping.is_set():
                with self._lock:
                    if self.env.stopping.is_set():
                        return
                    self.call = self.stub.Watch(pb.WatchRequest(since_revision=since))
                self.out.write({"watch": self.name, "node": self.node, "t": self.env.clock.now(), "kind": "start",
                                "since": since})
                code = "OK"
                try:
                    for response in self.call:
                        self.out.write({
                            "watch": self.name, "node": self.node, "t": self.env.clock.now(), "kind": "response",
                            "snapshot": response.snapshot, "history_lost": response.history_lost,
                            "coalesced": response.coalesced, "more": response.more, "revision": response.revision,
                            "events": [[pb.WatchEvent.Kind.Name(e.kind), e.instance.service, e.instance.instance_id,
                                        e.revision, pb.WatchEvent.Reason.Name(e.reason)] for e in response.events]})
                        if not response.more:
                            since = response.revision
                except grpc.RpcError as error:
                    code = error.code().name
                self.out.write({"watch": self.name, "node": self.node, "t": self.env.clock.now(), "kind": "end",
                                "code": code})
                self.env.stopping.wait(0.2)
        finally:
            self.channel.close()
            self.out.close()

    def stop(self):
        with self._lock:
            if self.call is not None:
                self.call.cancel()


class Lister(threading.Thread):
    """Asks every node for every service's instances in turn (Discover),
    recording each answer: what the checker's visibility, phantom and
    resurrection rules read."""

    def __init__(self, env, name, services, period=0.5):
        super().__init__(name=name, daemon=True)
        self.env = env
        self.services = services
        self.period = period
        self.history = History(env.clock, "%s/clients/%s.jsonl" % (env.run_dir, name), name)
        self.channels = Channels(env)

    def run(self):
        pb = self.env.pb.registry_pb2
        try:
            next_round = self.env.clock.now()
            while self.env.wait_until(next_round):
                for node in range(len(self.channels)):
                    for service in self.services:
                        with self.history.call("discover", node=node, service=service) as op:
                            reply = self.channels.stub(node).Discover(pb.DiscoverRequest(service=service),
                                                                      timeout=CALL_TIMEOUT)
                            op.set(instances=sorted(i.instance_id for i in reply.instances), revision=reply.revision)
                next_round += self.period
        finally:
            self.channels.close()
            self.history.close()
