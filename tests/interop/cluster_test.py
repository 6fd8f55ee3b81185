#!/usr/bin/python3
"""Cluster mode against real processes (docs/CLUSTER.md): a 3-member etcd
cluster from Debian's etcd binary, registryd nodes over it, clients made
by protoc from the project's protos. Each test uses an etcd prefix of its
own, so tests that leave etcd alone share one etcd cluster; tests that
break etcd start their own.

Usage:
  /usr/bin/python3 tests/interop/cluster_test.py --registryd build/src/registryd --etcd /usr/bin/etcd \\
      --protos protos --protoc /usr/bin/protoc --grpc-python-plugin /usr/bin/grpc_python_plugin [-v] [-k NAME]
"""
import argparse
import base64
import collections
import contextlib
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import ssl
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

import grpc

import stubs
from certificates import Authority
from etcd_cluster import EtcdCluster, EtcdTls, Node, TcpProxy
from registry_process import wait_for
from session_stream import SessionStream

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "xds"))
from xds_clients_test import Backend, Client as XdsClient  # noqa: E402

ARGS = None
pb = None  # the generated stubs
ETCD = None  # the shared etcd cluster
RPC_TIMEOUT = 10
NODE_TTL = 2  # seconds, --node-ttl of the tests' nodes
# How long each outcome of the failure table took, printed at the end of the
# run for docs/CLUSTER.md. The tests assert the outcomes, not these times.
MEASURED = []


def measured(event, outcome, since):
    MEASURED.append((event, outcome, time.monotonic() - since))
_prefixes = itertools.count()


def setUpModule():
    global pb, ETCD, _stub_dir
    _stub_dir = tempfile.TemporaryDirectory(prefix="cluster_test_")
    pb = stubs.generate(ARGS.protos, ARGS.protoc, ARGS.grpc_python_plugin, _stub_dir.name)
    # grpc/health/v1/health.proto would be Python's grpc.health package, which
    # grpcio owns: generated from a copy at the top of another proto root.
    health_root = os.path.join(_stub_dir.name, "health_proto")
    os.makedirs(health_root)
    shutil.copy(os.path.join(ARGS.protos, "grpc", "health", "v1", "health.proto"), health_root)
    health = stubs.generate(health_root, ARGS.protoc, ARGS.grpc_python_plugin, _stub_dir.name, ("health.proto",))
    pb.health_pb2, pb.health_pb2_grpc = health.health_pb2, health.health_pb2_grpc
    ETCD = EtcdCluster(ARGS.etcd)


def tearDownModule():
    if ETCD is not None:
        ETCD.close()
    _stub_dir.cleanup()


class Client:
    """Stubs of every API over one channel (one address, or several balanced round-robin)."""

    def __init__(self, *addresses, credentials=None):
        """`credentials`: grpc.ssl_channel_credentials, for nodes serving TLS."""
        target = addresses[0] if len(addresses) == 1 else "ipv4:" + ",".join(addresses)
        options = [("grpc.enable_http_proxy", 0), ("grpc.lb_policy_name", "round_robin"),
                   ("grpc.use_local_subchannel_pool", 1)]  # a restarted node gets a fresh connection
        self.channel = (grpc.secure_channel(target, credentials, options=options) if credentials
                        else grpc.insecure_channel(target, options=options))
        self.native = pb.registry_pb2_grpc.RegistryStub(self.channel)
        self.seed = pb.registry_service_pb2_grpc.RegistryServiceStub(self.channel)
        self.discovery = pb.discovery_service_pb2_grpc.DiscoveryServiceStub(self.channel)
        self.health = pb.health_pb2_grpc.HealthStub(self.channel)

    def register(self, service, instance_id, address="10.1.0.1:80", ttl_ms=30000, metadata=None):
        reply = self.native.Register(pb.registry_pb2.RegisterRequest(
            service=service, instance_id=instance_id, address=address, ttl_ms=ttl_ms, metadata=metadata or {}),
            timeout=RPC_TIMEOUT)
        return reply.lease_id

    def heartbeat(self, lease, overloaded=False):
        return self.native.Heartbeat(pb.registry_pb2.HeartbeatRequest(lease_id=lease, overloaded=overloaded),
                                     timeout=RPC_TIMEOUT)

    def deregister(self, lease):
        return self.native.Deregister(pb.registry_pb2.DeregisterRequest(lease_id=lease), timeout=RPC_TIMEOUT)

    def discover(self, service):
        """{instance_id: (address, overloaded, metadata)}"""
        reply = self.native.Discover(pb.registry_pb2.DiscoverRequest(service=service), timeout=RPC_TIMEOUT)
        return {i.instance_id: (i.address, i.overloaded, dict(i.metadata)) for i in reply.instances}

    def services(self):
        reply = self.native.ListServices(pb.registry_pb2.ListServicesRequest(), timeout=RPC_TIMEOUT)
        return {s.name: s.instances for s in reply.services}

    def seed_register(self, server_id, service, port=7000):
        return self.seed.discovery(pb.registry_service_pb2.RecordRequest(
            serverId=server_id, serverIp="10.2.0.%d" % (server_id % 250), serverPort=port, service=service),
            timeout=RPC_TIMEOUT)

    def seed_heartbeat(self, server_id):
        return self.seed.heartBeat(pb.registry_service_pb2.RenewRequest(serverId=server_id), timeout=RPC_TIMEOUT)

    def find(self, service):
        return self.discovery.findServer(pb.discovery_service_pb2.QueryRequest(service=service), timeout=RPC_TIMEOUT)

    def warn(self, server_id):
        return self.discovery.warnServerError(pb.discovery_service_pb2.ServerError(serverId=server_id),
                                              timeout=RPC_TIMEOUT)

    def serving(self):
        try:
            reply = self.health.Check(pb.health_pb2.HealthCheckRequest(service=""), timeout=2)
        except grpc.RpcError:
            return None
        return reply.status == pb.health_pb2.HealthCheckResponse.SERVING

    def close(self):
        self.channel.close()


class Watcher:
    """A Watch stream read by a thread: every event, as (kind, instance_id, reason, revision)."""

    def __init__(self, client, service="", since_revision=0):
        self.events = []
        self.responses = []
        self._lock = threading.Lock()
        self._call = client.native.Watch(pb.registry_pb2.WatchRequest(service=service, since_revision=since_revision))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        try:
            for response in self._call:
                with self._lock:
                    self.responses.append(response)
                    for event in response.events:
                        self.events.append((pb.registry_pb2.WatchEvent.Kind.Name(event.kind), event.instance.instance_id,
                                            pb.registry_pb2.WatchEvent.Reason.Name(event.reason), event.revision))
        except grpc.RpcError:
            pass

    def seen(self):
        with self._lock:
            return list(self.events)

    def revision(self):
        with self._lock:
            return self.responses[-1].revision if self.responses else 0

    def removed(self, instance_ids):
        return [e for e in self.seen() if e[0] == "REMOVED" and e[1] in instance_ids]

    def close(self):
        self._call.cancel()
        self._thread.join(5)


def SessionClient(client, stream_timeout=600, metadata=None):
    """A Session stream on `client`'s channel (session_stream.SessionStream)."""
    return SessionStream(pb.registry_pb2, client.native, stream_timeout=stream_timeout, metadata=metadata)


def describe(error):
    if isinstance(error, grpc.RpcError):
        return (error.code().name, error.details())
    return (type(error).__name__, str(error))


class Keeper:
    """Keeps sessions alive from a thread, one keep_alive each per `period`,
    until stop(), which returns the failures (a session that failed is left
    alone from then on)."""

    def __init__(self, sessions, period=1.0):
        self.sessions = list(sessions)
        self.period = period
        self.failures = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="session-keeper", daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            for index, session in enumerate(self.sessions):
                if session is None:
                    continue
                try:
                    session.keep_alive()
                except (grpc.RpcError, AssertionError) as error:
                    self.failures.append((index, describe(error)))
                    self.sessions[index] = None
            if self._stop.wait(self.period):
                return

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.failures


def etcd_keys(prefix):
    """{key: mod_revision} of every key under `prefix` in the shared etcd
    cluster, through etcd's JSON gateway (keys and range_end in base64)."""
    key = prefix.encode()
    range_end = key[:-1] + bytes([key[-1] + 1])
    reply = ETCD._post(0, "/v3/kv/range", {"key": base64.b64encode(key).decode(),
                                           "range_end": base64.b64encode(range_end).decode()})
    return {base64.b64decode(kv["key"]).decode(): int(kv["mod_revision"]) for kv in reply.get("kvs", [])}


def changes(watcher, instance_ids):
    """What `watcher` saw of `instance_ids` after its first snapshot: every
    change as (kind, instance id, reason), and any further snapshot."""
    seen = [event[:3] for event in watcher.seen() if event[3] != 0 and event[1] in instance_ids]
    snapshots = sum(1 for response in list(watcher.responses) if response.snapshot)
    return seen + [("another snapshot",)] * max(0, snapshots - 1)


def metric(node, sample, context=None):
    """The value of one sample (name and labels, as exposed) in `node`'s
    /metrics; 0 when absent. `context`: an ssl.SSLContext, for a node under TLS."""
    with urllib.request.urlopen(node.server.http_url + "/metrics", timeout=RPC_TIMEOUT, context=context) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith(sample + " "):
                return float(line.split()[-1])
    return 0


def renews(client, lease):
    """Whether `client` renews `lease`: False for UNAVAILABLE (try again), any other error raised."""
    try:
        client.heartbeat(lease)
        return True
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.UNAVAILABLE:
            raise
        return False


class ClusterTestCase(unittest.TestCase):
    def setUp(self):
        self.prefix = "/test-%d-%s/" % (next(_prefixes), self.id().split(".")[-1][:40])
        self.nodes = []
        self.clients = []
        self.watchers = []

    def tearDown(self):
        for watcher in self.watchers:
            watcher.close()
        for client in self.clients:
            client.close()
        failures = []
        for node in self.nodes:
            if node.alive():
                try:
                    node.stop()
                except AssertionError as error:
                    failures.append(str(error))
            node.kill()
        if failures:
            self.fail("\n".join(failures))

    def start_nodes(self, count, etcd_urls=None, **kwargs):
        for _ in range(count):
            self.nodes.append(Node(ARGS.registryd, etcd_urls or ETCD.client_urls, self.prefix,
                                   node_ttl="%ds" % NODE_TTL, **kwargs))
        return self.nodes[-count:]

    def start_writer_and_watcher_through_proxy(self):
        """A node that writes, and a node that follows etcd through a TcpProxy
        of the test's (to stall its watch): (writer client, proxy, watching node, its client)."""
        proxy = TcpProxy(ETCD.client_ports[1])
        self.addCleanup(proxy.close)
        writer = self.client(*self.start_nodes(1))
        node = self.start_nodes(1, extra=["--etcd-watch-endpoints", proxy.url])[0]
        return writer, proxy, node, self.client(node)

    def client(self, *nodes):
        client = Client(*[node.address for node in nodes])
        self.clients.append(client)
        return client

    def watch(self, client, service="", since_revision=0):
        watcher = Watcher(client, service, since_revision)
        self.watchers.append(watcher)
        return watcher

    def assert_eventually(self, condition, message, timeout=20):
        self.assertTrue(wait_for(condition, timeout), message() if callable(message) else message)

    def time_until(self, event, outcome, since, condition, timeout=20):
        """assert_eventually, and records how long after `since` the outcome came."""
        self.assert_eventually(condition, self.logs, timeout)
        measured(event, outcome, since)

    def logs(self):
        return "\n".join("--- node %s ---\n%s" % (node.address, node.log()[-3000:]) for node in self.nodes)


class CrossNodeVisibilityTest(ClusterTestCase):
    def test_every_kind_of_change_on_one_node_is_seen_on_every_node(self):
        a, b, c = [self.client(node) for node in self.start_nodes(3)]
        watcher = self.watch(b, "orders")
        lease = a.register("orders", "o-1", metadata={"zone": "z1"})
        # Acknowledged: visible at once on the node that acknowledged it, soon on the others.
        self.assertIn("o-1", a.discover("orders"))
        for client in (b, c):
            self.assert_eventually(lambda: "o-1" in client.discover("orders"), self.logs)
            self.assertEqual(client.services().get("orders"), 1)

        # An update through another node keeps the lease.
        self.assertEqual(b.register("orders", "o-1", metadata={"zone": "z2"}), lease)
        for client in (a, c):
            self.assert_eventually(lambda: client.discover("orders")["o-1"][2] == {"zone": "z2"}, self.logs)

        # Deregistration through a third node.
        c.deregister(lease)
        for client in (a, b, c):
            self.assert_eventually(lambda: "o-1" not in client.discover("orders"), self.logs)
        with self.assertRaises(grpc.RpcError) as error:
            a.heartbeat(lease)
        self.assertEqual(error.exception.code(), grpc.StatusCode.NOT_FOUND)

        # Expiry: nobody renews it.
        a.register("orders", "short", ttl_ms=1000)
        for client in (b, c):
            self.assert_eventually(lambda: "short" in client.discover("orders"), self.logs)
        for client in (a, b, c):
            self.assert_eventually(lambda: "short" not in client.discover("orders"), self.logs)

        self.assert_eventually(lambda: len(watcher.seen()) >= 5, lambda: "watch saw %r" % watcher.seen())
        self.assertEqual([(kind, instance, reason) for kind, instance, reason, _ in watcher.seen()],
                         [("ADDED", "o-1", "REASON_UNSPECIFIED"), ("UPDATED", "o-1", "REASON_UNSPECIFIED"),
                          ("REMOVED", "o-1", "DEREGISTERED"), ("ADDED", "short", "REASON_UNSPECIFIED"),
                          ("REMOVED", "short", "EXPIRED")])

    def test_a_registration_is_visible_at_once_on_the_node_that_acknowledged_it(self):
        a, b = [self.client(node) for node in self.start_nodes(2)]
        for i in range(20):
            client = (a, b)[i % 2]
            client.register("visible", "v-%d" % i)
            self.assertIn("v-%d" % i, client.discover("visible"))

    def test_a_registration_is_answered_with_its_instance_id_and_ttl(self):
        (node,) = self.start_nodes(1)
        client = self.client(node)
        for requested in ("given-1", ""):
            reply = client.native.Register(pb.registry_pb2.RegisterRequest(
                service="answered", instance_id=requested, address="10.1.0.1:80", ttl_ms=5000), timeout=RPC_TIMEOUT)
            if requested:
                self.assertEqual(reply.instance_id, requested)
            self.assertTrue(reply.instance_id, "the reply names no instance id")
            self.assertEqual(reply.ttl_ms, 5000)
            self.assertIn(reply.instance_id, client.discover("answered"))

    def test_heartbeats_on_another_node_keep_a_lease_alive(self):
        a, b = [self.client(node) for node in self.start_nodes(2)]
        lease = a.register("moved", "m-1", ttl_ms=1500)
        # b knows the lease once its watch delivered the registration (a server
        # heartbeats a fraction of its TTL after registering, not at once).
        self.assert_eventually(lambda: "m-1" in b.discover("moved"), self.logs)
        deadline = time.monotonic() + 5  # more than three TTLs
        while time.monotonic() < deadline:
            self.assertEqual(b.heartbeat(lease).ttl_ms, 1500)
            time.sleep(0.3)
        self.assertIn("m-1", a.discover("moved"))
        self.assertIn("m-1", b.discover("moved"))


class SessionTest(ClusterTestCase):
    """Sessions across nodes (registry.v1.Registry/Session): a session lives in
    etcd, not on the node its stream is on, so every node lists its instances,
    a client resumes it on any node without watchers seeing anything of it,
    and a killed node's sessions are resumed elsewhere. Refreshes (keep_alive,
    and every other request) write nothing to etcd."""

    def setUp(self):
        super().setUp()
        self.sessions = []

    def tearDown(self):
        for session in self.sessions:
            session.cancel()
        super().tearDown()

    def session(self, client):
        session = SessionClient(client)
        self.sessions.append(session)
        return session

    @contextlib.contextmanager
    def kept_alive(self, sessions, period=0.5):
        """Keeps `sessions` alive while the block waits on something else."""
        keeper = Keeper(sessions, period)
        try:
            yield keeper
        finally:
            failures = keeper.stop()
        self.assertEqual(failures, [], self.logs())

    def assert_registered(self, results, instance_ids):
        self.assertEqual([(r.code, r.message) for r in results], [(0, "")] * len(instance_ids))
        self.assertEqual([r.instance_id for r in results], list(instance_ids))
        leases = [r.lease_id for r in results]
        self.assertNotIn(0, leases)
        self.assertEqual(len(set(leases)), len(leases))

    def assert_listed_everywhere(self, clients, service, instance_ids, timeout=20):
        for client in clients:
            self.assert_eventually(lambda: set(client.discover(service)) == set(instance_ids), self.logs, timeout)

    def watch_from_here(self, client, service, instance_ids):
        """A watcher of `service` whose snapshot holds every one of `instance_ids`."""
        watcher = self.watch(client, service)
        self.assert_eventually(
            lambda: set(instance_ids) <= {e[1] for e in watcher.seen() if e[0] == "ADDED" and e[3] == 0},
            lambda: "watch saw %r\n%s" % (watcher.seen(), self.logs()))
        return watcher

    def listed_sessions(self, client):
        reply = client.native.ListSessions(pb.registry_pb2.ListSessionsRequest(), timeout=RPC_TIMEOUT)
        return {info.session_id: info for info in reply.sessions}

    def resume_until_taken(self, client, opened, timeout=15):
        """Resumes `opened` through `client` on a new stream, again on another
        while the node answers UNAVAILABLE or ABORTED (it cannot take the
        session yet): (the stream, its SessionOpened)."""
        deadline = time.monotonic() + timeout
        while True:
            session = self.session(client)
            try:
                return session, session.resume(opened.session_id, opened.token)
            except grpc.RpcError as error:
                session.cancel()
                if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED) \
                        or time.monotonic() > deadline:
                    raise
            time.sleep(0.2)

    def assert_refused(self, code, call, *args):
        with self.assertRaises(grpc.RpcError) as refused:
            call(*args)
        self.assertEqual(refused.exception.code(), code, refused.exception.details())
        return refused.exception

    def test_a_session_opened_on_one_node_is_seen_by_every_node(self):
        a, b, c = [self.client(node) for node in self.start_nodes(3)]
        session = self.session(a)
        opened = session.open(5000)
        self.assertNotEqual(opened.session_id, 0)
        self.assertEqual(len(opened.token), 16)
        self.assertEqual((opened.ttl_ms, opened.grace_ms, opened.instances, opened.resumed), (5000, 5000, 0, False))
        ids = ["s-%d" % i for i in range(20)]
        requests = [pb.registry_pb2.RegisterRequest(service="sess", instance_id=i, address="10.5.0.1:80") for i in ids]
        # One instance with an invalid field among them: its own result, nothing else.
        requests.insert(10, pb.registry_pb2.RegisterRequest(service="", instance_id="bad", address="10.5.0.1:80"))
        results = session.register_instances(requests)
        self.assertEqual(len(results), 21)
        bad = results.pop(10)
        self.assertEqual(bad.code, grpc.StatusCode.INVALID_ARGUMENT.value[0], bad.message)
        self.assertIn("service", bad.message)
        self.assertEqual(bad.lease_id, 0)
        self.assert_registered(results, ids)
        with self.kept_alive([session]):
            self.assert_listed_everywhere((a, b, c), "sess", ids)
            # The dashboard: the holder shows the session open; another node, kept elsewhere.
            standing = {}
            for node in self.nodes[:2]:
                url = node.server.http_url + "/v1/dashboard/instances?service=sess&limit=100"
                with urllib.request.urlopen(url, timeout=RPC_TIMEOUT) as reply:
                    instances = json.load(reply)["instances"]
                standing[node.address] = {json.dumps(i["session"], sort_keys=True) for i in instances}
        session_id = "0x%016x" % opened.session_id
        self.assertEqual(standing[self.nodes[0].address],
                         {json.dumps({"id": session_id, "attached": True, "elsewhere": False}, sort_keys=True)})
        self.assertEqual(standing[self.nodes[1].address],
                         {json.dumps({"id": session_id, "attached": False, "elsewhere": True}, sort_keys=True)})
        self.assertEqual(session.keep_alive().ttl_ms, 5000)  # the stream stayed open

    def test_a_session_resumed_on_another_node_causes_no_churn(self):
        a, b, c = [self.client(node) for node in self.start_nodes(3)]
        first = self.session(a)
        opened = first.open(4000, grace_ms=4000)
        ids = ["m-%d" % i for i in range(50)]
        self.assert_registered(first.register("moved", ids), ids)
        with self.kept_alive([first]):
            self.assert_listed_everywhere((b, c), "moved", ids)
            watchers = [self.watch_from_here(client, "moved", ids) for client in (b, c)]
        first.cancel()  # its connection broke
        broken = time.monotonic()
        second = self.session(b)
        again = second.resume(opened.session_id, opened.token)
        measured("a session's stream breaks", "resumed on another node (50 instances)", broken)
        self.assertTrue(again.resumed)
        self.assertEqual((again.session_id, again.instances, again.ttl_ms, again.grace_ms),
                         (opened.session_id, 50, 4000, 4000))
        deadline = time.monotonic() + 3 * 4  # three TTLs
        while time.monotonic() < deadline:
            self.assertEqual(second.keep_alive().ttl_ms, 4000)
            time.sleep(1)
        self.assertEqual(second.keep_alive().ttl_ms, 4000)
        for client in (a, b, c):
            self.assertEqual(set(client.discover("moved")), set(ids), self.logs())
        for watcher in watchers:
            self.assertEqual(changes(watcher, set(ids)), [], self.logs())
        listed = self.listed_sessions(b)
        self.assertIn(opened.session_id, listed)
        self.assertEqual((listed[opened.session_id].attached, listed[opened.session_id].instances), (True, 50))

    def test_a_session_holds_at_most_its_cap_of_instances(self):
        # The instances of one request are written together, before any is
        # applied: the cap counts those on their way too.
        (node,) = self.start_nodes(1, extra=["--max-instances-per-session", "5"])
        client = self.client(node)
        session = self.session(client)
        session.open(10000)
        exhausted = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
        results = session.register("capped", ["c-%d" % i for i in range(8)])
        codes = [r.code for r in results]
        self.assertEqual((codes.count(0), codes.count(exhausted)), (5, 3), [r.message for r in results])
        self.assertEqual([r.code for r in session.register("capped", ["late"])], [exhausted])
        self.assertEqual(len(client.discover("capped")), 5)

    def test_a_wrong_token_is_refused_and_changes_nothing(self):
        a, b = [self.client(node) for node in self.start_nodes(2)]
        session = self.session(a)
        opened = session.open(5000)
        ids = ["w-%d" % i for i in range(3)]
        self.assert_registered(session.register("wrong-token", ids), ids)
        with self.kept_alive([session]):
            self.assert_listed_everywhere((b,), "wrong-token", ids)
            watcher = self.watch_from_here(b, "wrong-token", ids)
        wrong = bytes(byte ^ 0xFF for byte in opened.token)  # 16 bytes, none of them right
        self.assertEqual(len(wrong), 16)
        thief = self.session(b)
        self.assert_refused(grpc.StatusCode.PERMISSION_DENIED, thief.resume, opened.session_id, wrong)
        self.assertEqual(session.keep_alive().ttl_ms, 5000)  # still the opener's, on its stream
        for client in (a, b):
            self.assertEqual(set(client.discover("wrong-token")), set(ids))
        listed = self.listed_sessions(a)
        self.assertIn(opened.session_id, listed)
        self.assertEqual((listed[opened.session_id].attached, listed[opened.session_id].instances), (True, 3))
        self.assertEqual(changes(watcher, set(ids)), [])

    def test_a_silent_session_expires_on_every_node(self):
        a, b, c = [self.client(node) for node in self.start_nodes(3)]
        session = self.session(a)
        opened = session.open(2000, grace_ms=2000)
        ids = ["q-%d" % i for i in range(5)]
        self.assert_registered(session.register("silent", ids), ids)
        with self.kept_alive([session]):
            self.assert_listed_everywhere((b, c), "silent", ids)
            watchers = [self.watch_from_here(client, "silent", ids) for client in (b, c)]
        silent = time.monotonic()  # the stream stays open; nothing more is sent on it
        for client in (a, b, c):
            self.time_until("a session's client goes silent", "its instances (TTL 2 s) expired on every node",
                            silent, lambda: not client.discover("silent"), timeout=15)
        for watcher in watchers:
            self.assert_eventually(lambda: sorted(e[1] for e in watcher.removed(set(ids))) == sorted(ids),
                                   lambda: "watch saw %r" % watcher.seen())
            self.assertEqual({e[2] for e in watcher.removed(set(ids))}, {"EXPIRED"})
        # Its stream learns it at its next request at the latest; nobody resumes it.
        self.assert_refused(grpc.StatusCode.NOT_FOUND, session.keep_alive)
        self.assert_refused(grpc.StatusCode.NOT_FOUND, self.session(b).resume, opened.session_id, opened.token)

    def test_a_closed_session_removes_its_instances_everywhere(self):
        a, b, c = [self.client(node) for node in self.start_nodes(3)]
        session = self.session(a)
        opened = session.open(5000)
        ids = ["x-%d" % i for i in range(5)]
        self.assert_registered(session.register("closed", ids), ids)
        with self.kept_alive([session]):
            self.assert_listed_everywhere((b, c), "closed", ids)
            watchers = [self.watch_from_here(client, "closed", ids) for client in (b, c)]
        session.close()
        self.assertEqual(session.end(), grpc.StatusCode.OK)
        for client in (a, b, c):
            self.assert_eventually(lambda: not client.discover("closed"), self.logs)
            self.assert_eventually(lambda: opened.session_id not in self.listed_sessions(client), self.logs)
        for watcher in watchers:
            self.assert_eventually(lambda: sorted(e[1] for e in watcher.removed(set(ids))) == sorted(ids),
                                   lambda: "watch saw %r" % watcher.seen())
            self.assertEqual({e[2] for e in watcher.removed(set(ids))}, {"DEREGISTERED"})
        self.assert_refused(grpc.StatusCode.NOT_FOUND, self.session(b).resume, opened.session_id, opened.token)

    def test_refreshes_write_nothing_to_etcd(self):
        a, _ = [self.client(node) for node in self.start_nodes(2)]
        session = self.session(a)
        session.open(5000)
        ids = ["e-%d" % i for i in range(10)]
        self.assert_registered(session.register("unwritten", ids), ids)
        sessions, instances = self.prefix + "sessions/", self.prefix + "instances/"
        with self.kept_alive([session]):
            # The layout is as assumed: the comparison below is not of nothing.
            self.assert_eventually(lambda: len(etcd_keys(sessions)) == 1 and len(etcd_keys(instances)) == 10,
                                   lambda: "under %s: %r\n%s" % (self.prefix, etcd_keys(self.prefix), self.logs()))
        before = {**etcd_keys(sessions), **etcd_keys(instances)}
        for _ in range(20):  # over ~4 s
            self.assertEqual(session.keep_alive().ttl_ms, 5000)
            time.sleep(0.2)
        after = {**etcd_keys(sessions), **etcd_keys(instances)}
        written = sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))
        print("\n  20 keep_alives of a session of 10 instances: %d etcd writes under sessions/ and instances/"
              % len(written), file=sys.stderr)
        self.assertEqual(written, [])
        self.assertEqual(len(after), 11)

    def test_a_killed_node_hands_its_sessions_to_where_clients_resume(self):
        nodes = self.start_nodes(3)
        on_victim = self.client(nodes[0])
        survivors = [self.client(node) for node in nodes[1:]]
        opened, every = [], set()
        for s in range(20):
            session = self.session(on_victim)
            first = session.open(6000, grace_ms=6000)
            ids = ["h-%d-%d" % (s, i) for i in range(10)]
            self.assert_registered(session.register("handover", ids), ids)
            opened.append((session, first))
            every.update(ids)
        # Two sessions whose clients die with the node: taken over, they
        # expire a TTL (and the cut-off bound) after the takeover, though
        # they have no grace (their clients did not break their streams; the
        # node's death did).
        orphans, orphan_sessions = set(), []
        for s in range(2):
            session = self.session(on_victim)
            orphan_sessions.append(session)
            session.open(3000, grace_ms=0)
            ids = ["orphan-%d-%d" % (s, i) for i in range(5)]
            self.assert_registered(session.register("handover", ids), ids)
            orphans.update(ids)
        with self.kept_alive([session for session, _ in opened] + orphan_sessions):
            self.assert_listed_everywhere(survivors, "handover", every | orphans, timeout=30)
            watchers = [self.watch_from_here(client, "handover", every | orphans) for client in survivors]
        nodes[0].kill()
        killed = time.monotonic()
        # Each session's client resumes on B or C alternately (as its own
        # client would, with retries) and keeps it alive every second.
        outcomes = [None] * len(opened)
        failures = []
        stop = threading.Event()

        def client_of(index, first):
            try:
                session, again = self.resume_until_taken(survivors[index % 2], first)
            except (grpc.RpcError, AssertionError) as error:
                outcomes[index] = describe(error)
                return
            outcomes[index] = (again.resumed, again.instances)
            while not stop.wait(1):
                try:
                    session.keep_alive()
                except (grpc.RpcError, AssertionError) as error:
                    failures.append((index, describe(error)))
                    return

        threads = [threading.Thread(target=client_of, args=(index, first), daemon=True)
                   for index, (_, first) in enumerate(opened)]
        for thread in threads:
            thread.start()
        try:
            self.time_until("a node holding sessions is killed", "its 20 sessions resumed on the others", killed,
                            lambda: None not in outcomes, timeout=30)
            self.assertEqual(outcomes, [(True, 10)] * len(opened), self.logs())
            for client in survivors:
                self.time_until("a node holding sessions is killed",
                                "its sessions nobody resumed (TTL 3 s, grace 0) expired on the survivors", killed,
                                lambda: not orphans & set(client.discover("handover")), timeout=NODE_TTL + 3 + 20)
            time.sleep(2 * NODE_TTL + 6)  # the fault's aftermath: --node-ttl twice and a session TTL
        finally:
            stop.set()
            for thread in threads:
                thread.join(RPC_TIMEOUT + 5)
        self.assertEqual(failures, [], self.logs())
        for client, watcher in zip(survivors, watchers):
            self.assertEqual(watcher.removed(every), [], self.logs())
            self.assertEqual([e for e in changes(watcher, every) if e[0] == "ADDED"], [])
            self.assertEqual(set(client.discover("handover")), every)
            self.assertEqual(sorted((e[1], e[2]) for e in watcher.removed(orphans)),
                             sorted((i, "EXPIRED") for i in orphans))


    def test_a_node_cut_off_from_etcd_sends_its_sessions_clients_elsewhere(self):
        # As it refuses heartbeats: the others take its sessions over, so
        # their clients must resume them where the cluster can hear them.
        proxy = TcpProxy(ETCD.client_ports[0])
        self.addCleanup(proxy.close)
        a = self.client(*self.start_nodes(1))
        cut = self.client(*self.start_nodes(1, [proxy.url]))
        session = self.session(cut)
        opened = session.open(6000, grace_ms=6000)
        ids = ["cut-%d" % i for i in range(5)]
        self.assert_registered(session.register("cut-sessions", ids), ids)
        with self.kept_alive([session]):
            self.assert_listed_everywhere([a], "cut-sessions", ids)
            watcher = self.watch_from_here(a, "cut-sessions", ids)
        proxy.cut()
        cut_at = time.monotonic()
        event = "a node holding a session is cut off from etcd"

        def refused():
            try:
                session.keep_alive()
                return False
            except grpc.RpcError as error:
                return error.code() == grpc.StatusCode.UNAVAILABLE
        self.time_until(event, "its session's requests get UNAVAILABLE", cut_at, refused, timeout=NODE_TTL + 15)
        moved, again = self.resume_until_taken(a, opened)
        measured(event, "the client resumed its session on another node", cut_at)
        self.assertEqual((again.resumed, again.instances), (True, 5))
        with self.kept_alive([moved]):
            time.sleep(NODE_TTL + 3)  # the takeover, and past its grace on the node that took it
        self.assertEqual(set(a.discover("cut-sessions")), set(ids))
        self.assertEqual(watcher.removed(set(ids)), [], self.logs())
        proxy.restore()


class SeedAcrossNodesTest(ClusterTestCase):
    def test_one_server_id_is_one_server_across_nodes(self):
        a, b, c = [self.client(node) for node in self.start_nodes(3)]
        self.assertTrue(a.seed_register(42, "books").success)
        self.assert_eventually(lambda: "42" in c.discover("books"), self.logs)
        self.assertTrue(b.seed_register(42, "music").success)  # the same server moves
        for client in (a, b, c):
            self.assert_eventually(lambda: "42" in client.discover("music") and not client.discover("books"),
                                   self.logs)
        self.assertEqual(c.find("music").serverId, 42)
        self.assertTrue(c.seed_heartbeat(42).success)
        self.assertEqual(sum(client.services().get("music", 0) for client in (a, b, c)), 3)

    def test_warn_server_error_on_one_node_ejects_for_all_until_the_next_heartbeat(self):
        a, b, c = [self.client(node) for node in self.start_nodes(3)]
        for server_id in (1, 2):
            self.assertTrue(a.seed_register(server_id, "shop").success)
        for client in (b, c):
            self.assert_eventually(lambda: len(client.discover("shop")) == 2, self.logs)
        reply = b.warn(1)
        self.assertTrue(reply.querySuccess)
        self.assertEqual(reply.serverId, 2)
        for client in (a, b, c):
            self.assert_eventually(lambda: list(client.discover("shop")) == ["2"], self.logs)
            self.assertEqual(client.find("shop").serverId, 2)
        self.assertTrue(c.seed_heartbeat(1).success)  # back in rotation
        for client in (a, b, c):
            self.assert_eventually(lambda: len(client.discover("shop")) == 2, self.logs)


class WatchResumeTest(ClusterTestCase):
    def test_a_watch_resumes_on_another_node_with_the_same_revisions(self):
        a, b = [self.client(node) for node in self.start_nodes(2)]
        first = self.watch(a, "")
        for i in range(5):
            a.register("resume", "r-%d" % i)
        self.assert_eventually(lambda: len(first.seen()) == 5, lambda: repr(first.seen()))
        resume_from = first.revision()
        first.close()
        for i in range(5, 10):
            b.register("resume", "r-%d" % i)
        on_a = self.watch(a, "", since_revision=resume_from)
        on_b = self.watch(b, "", since_revision=resume_from)
        for watcher in (on_a, on_b):
            self.assert_eventually(lambda: len(watcher.seen()) == 5, lambda: repr(watcher.seen()))
            self.assertFalse(any(r.history_lost or r.snapshot for r in watcher.responses))
        self.assertEqual(on_a.seen(), on_b.seen())
        self.assertEqual([e[1] for e in on_b.seen()], ["r-%d" % i for i in range(5, 10)])

    def test_a_watch_resuming_before_a_nodes_history_gets_a_snapshot(self):
        a = self.client(*self.start_nodes(1))
        watcher = self.watch(a, "")
        a.register("old", "o-1")
        self.assert_eventually(lambda: watcher.seen(), "no event")
        early = watcher.revision()
        a.register("old", "o-2")
        late = self.client(*self.start_nodes(1))  # its history starts where it loaded the catalog
        resumed = self.watch(late, "", since_revision=early)
        self.assert_eventually(lambda: resumed.responses, "no response")
        self.assertTrue(resumed.responses[0].history_lost)
        self.assertEqual(sorted(e[1] for e in resumed.seen()), ["o-1", "o-2"])


class NodeFailureTest(ClusterTestCase):
    def test_a_killed_node_loses_no_live_instance(self):
        nodes = self.start_nodes(3)
        victim, survivors = nodes[0], nodes[1:]
        on_victim = self.client(victim)
        kept = {"k-%d" % i: on_victim.register("killed", "k-%d" % i, ttl_ms=4000) for i in range(20)}
        orphans = {"o-%d" % i: on_victim.register("killed", "o-%d" % i, ttl_ms=4000) for i in range(5)}
        clients = [self.client(node) for node in survivors]
        watchers = [self.watch(client, "killed") for client in clients]
        for client in clients:
            self.assert_eventually(lambda: len(client.discover("killed")) == 25, self.logs)
        failures = []
        stop = threading.Event()

        def renew():  # the kept instances' servers, moving to the survivors
            for turn in itertools.count():
                if stop.is_set():
                    return
                for instance, lease in kept.items():
                    try:
                        clients[turn % 2].heartbeat(lease)
                    except grpc.RpcError as error:
                        failures.append((instance, error.code(), error.details()))
                stop.wait(0.5)

        renewer = threading.Thread(target=renew, daemon=True)
        renewer.start()
        victim.kill()
        killed = time.monotonic()
        # The orphans go within their TTL plus --node-ttl (and a margin for the takeover).
        for client in clients:
            self.time_until("a node is killed (SIGKILL)", "its orphans (TTL 4 s) expired on the survivors", killed,
                            lambda: not any(i in client.discover("killed") for i in orphans), timeout=4 + NODE_TTL + 10)
        time.sleep(1)  # a further round of renewals
        stop.set()
        renewer.join()
        self.assertEqual(failures, [])
        for client, watcher in zip(clients, watchers):
            self.assertEqual(set(client.discover("killed")), set(kept))
            self.assertEqual(watcher.removed(set(kept)), [])
            self.assertEqual(sorted(e[1] for e in watcher.removed(set(orphans))), sorted(orphans))

    def test_a_restarted_node_rejoins_with_nothing_lost_or_duplicated(self):
        nodes = self.start_nodes(2)
        a, b = self.client(nodes[0]), self.client(nodes[1])
        leases = {"i-%d" % i: (a, b)[i % 2].register("restart", "i-%d" % i, ttl_ms=20000) for i in range(30)}
        self.assertTrue(a.seed_register(9, "restart").success)
        nodes[0].kill()
        restarting = time.monotonic()
        nodes[0].start()  # same port, same name: returns once it serves
        measured("a node restarts", "it loaded the catalog (31 instances) and serves", restarting)
        a = self.client(nodes[0])  # the old connection is gone
        self.assertEqual(set(a.discover("restart")), set(leases) | {"9"})
        self.assertEqual(a.services(), b.services())
        self.assertEqual(a.services()["restart"], 31)
        for lease in leases.values():
            self.assertEqual(a.heartbeat(lease).ttl_ms, 20000)
        self.assertTrue(a.seed_heartbeat(9).success)


class StalledNodeTest(ClusterTestCase):
    def test_a_node_stopped_past_the_lease_and_node_ttl_removes_nothing_when_it_wakes(self):
        nodes = self.start_nodes(3)
        sleeper, others = nodes[0], nodes[1:]
        on_sleeper = self.client(sleeper)
        kept = {"k-%d" % i: on_sleeper.register("stalled", "k-%d" % i, ttl_ms=3000) for i in range(20)}
        clients = [self.client(node) for node in others]
        watchers = [self.watch(self.client(node), "stalled") for node in nodes]  # the sleeper's own too
        for watcher in watchers:
            self.assert_eventually(lambda: len([e for e in watcher.seen() if e[0] == "ADDED"]) == 20, self.logs)
        renewer = Renewer(clients, list(kept.values()), period=0.5)  # the servers renew through the others
        os.kill(sleeper.server.pid, signal.SIGSTOP)
        try:
            time.sleep(3 + NODE_TTL + 3)  # the fault: past the lease TTL and --node-ttl; the others take over
        finally:
            os.kill(sleeper.server.pid, signal.SIGCONT)
        # Awake: it catches up with what the others did meanwhile, and a lease
        # TTL later still holds every instance, as every node does.
        self.assert_eventually(lambda: set(on_sleeper.discover("stalled")) == set(kept), self.logs)
        time.sleep(3 + 1)
        self.assertEqual(renewer.stop(), [])
        for node, watcher in zip(nodes, watchers):
            self.assertEqual(watcher.removed(set(kept)), [], "on %s\n%s" % (node.address, self.logs()))
        for client in [on_sleeper, *clients]:
            self.assertEqual(set(client.discover("stalled")), set(kept))
        self.assertRegex(sleeper.log(), r"registryd did not run for \d+\.\ds \(paused\?\)")

    def test_a_node_whose_watch_lags_never_denies_a_lease_just_registered_elsewhere(self):
        # No stall here: the node runs and vouches for its view, but its watch
        # has not yet brought what another node wrote a moment ago.
        writer, proxy, _, lagging = self.start_writer_and_watcher_through_proxy()
        writer.register("fresh", "before")
        self.assert_eventually(lambda: "before" in lagging.discover("fresh"), self.logs)
        proxy.pause()
        renewed = writer.register("fresh", "renewed")
        removed = writer.register("fresh", "removed")
        never = 0x7EEDFACE0BADF00D  # no node ever made it
        for lease in (renewed, never):
            with self.assertRaises(grpc.RpcError) as raised:
                lagging.heartbeat(lease)
            # Not yet confirmed; or, on a slow machine, stale or awake from a stall: never NOT_FOUND.
            self.assertEqual(raised.exception.code(), grpc.StatusCode.UNAVAILABLE, describe(raised.exception))
            self.assertRegex(raised.exception.details(), "not yet confirmed with etcd|cannot vouch")
        # A deregistration waits for the proof, then finds the lease.
        deregistered = lagging.native.Deregister.future(pb.registry_pb2.DeregisterRequest(lease_id=removed),
                                                        timeout=RPC_TIMEOUT)
        proxy.restore()
        deregistered.result()
        self.assert_eventually(lambda: renews(lagging, renewed), self.logs)
        # What is absent is then NOT_FOUND: a lease whose removal the node
        # applied, at the first question (nothing asked of it before)...
        self.assert_eventually(lambda: "removed" not in lagging.discover("fresh"), self.logs)
        self.assertEqual(self.heartbeat_code(lagging, removed), grpc.StatusCode.NOT_FOUND)
        # ...and one no node made, once a beacon proved it.
        self.assert_eventually(lambda: self.heartbeat_code(lagging, never) == grpc.StatusCode.NOT_FOUND,
                               lambda: "%r" % self.heartbeat_code(lagging, never))
        self.assert_eventually(lambda: "removed" not in writer.discover("fresh"), self.logs)

    def heartbeat_code(self, client, lease):
        try:
            client.heartbeat(lease)
            return grpc.StatusCode.OK
        except grpc.RpcError as error:
            return error.code()

    def test_a_node_awake_from_a_stall_never_denies_a_lease_registered_elsewhere_meanwhile(self):
        writer, proxy, sleeper_node, sleeper = self.start_writer_and_watcher_through_proxy()
        writer.register("woken", "before")
        self.assert_eventually(lambda: "before" in sleeper.discover("woken"), self.logs)
        os.kill(sleeper_node.server.pid, signal.SIGSTOP)
        try:
            proxy.pause()  # what the writer does meanwhile reaches the sleeper only once the test lets it
            lease = writer.register("woken", "meanwhile")
            time.sleep(1)  # the fault: past --stall-threshold (500 ms), short of --node-ttl
        finally:
            os.kill(sleeper_node.server.pid, signal.SIGCONT)
        # Awake, it cannot know the lease yet: it must say so with UNAVAILABLE
        # (try again), never NOT_FOUND (the seed's servers would give up).
        with self.assertRaises(grpc.RpcError) as raised:
            sleeper.heartbeat(lease)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.UNAVAILABLE, describe(raised.exception))
        self.assertIn("cannot vouch", raised.exception.details())
        proxy.restore()
        self.assert_eventually(lambda: renews(sleeper, lease), self.logs)
        self.assertRegex(sleeper_node.log(), r"this node did not run for \d+ ms \(paused\?\)")
        self.assertGreaterEqual(metric(sleeper_node, 'registryd_cluster_catch_ups_total{after="stall"}'), 1)
        self.assertGreaterEqual(metric(sleeper_node, "registryd_cluster_unvouched_answers_total"), 1)


class ManyInstancesTest(ClusterTestCase):
    def test_instances_heartbeating_through_a_multi_address_channel_survive_a_killed_node(self):
        count = ARGS.many
        nodes = self.start_nodes(3)
        everywhere = self.client(*nodes)  # round_robin over the three nodes
        ttl_ms = 10000

        def in_windows(calls):
            """Runs the calls 500 at a time; a call that fails on a node is tried on
            the next (round_robin), as a client does. Returns (results, failures)."""
            results, failures = [], []
            for start in range(0, len(calls), 500):
                futures = [(call, call()) for call in calls[start:start + 500]]
                for call, future in futures:
                    for attempt in range(3):
                        try:
                            results.append(future.result())
                            break
                        except grpc.RpcError as error:
                            if attempt == 2:
                                failures.append((error.code(), error.details()))
                            future = call()
            return results, failures

        ids = ["n-%d" % i for i in range(count)]
        register = everywhere.native.Register.future
        registered, failures = in_windows([lambda i=i: register(pb.registry_pb2.RegisterRequest(
            service="many", instance_id=i, address="10.3.0.1:80", ttl_ms=ttl_ms), timeout=60) for i in ids])
        self.assertEqual(failures, [])
        leases = [reply.lease_id for reply in registered]
        survivors = [self.client(node) for node in nodes[1:]]
        for client in [self.client(nodes[0])] + survivors:
            self.assert_eventually(lambda: len(client.discover("many")) == count, self.logs, timeout=60)
        watchers = [self.watch(client, "many") for client in survivors]
        for watcher in watchers:
            self.assert_eventually(lambda: watcher.responses, "no watch response")
        heartbeat = everywhere.native.Heartbeat.future
        beats = [lambda lease=lease: heartbeat(pb.registry_pb2.HeartbeatRequest(lease_id=lease), timeout=10)
                 for lease in leases]
        stop = threading.Event()
        failures = []

        def renew():
            while not stop.is_set():
                failures.extend(in_windows(beats)[1])
                stop.wait(1)

        renewer = threading.Thread(target=renew, daemon=True)
        renewer.start()
        time.sleep(2)
        nodes[0].kill()
        time.sleep(ttl_ms / 1000 + NODE_TTL + 3)  # every lease outlived its TTL since the kill
        stop.set()
        renewer.join()
        self.assertEqual(failures, [])
        for client, watcher in zip(survivors, watchers):
            self.assertEqual(len(client.discover("many")), count)
            self.assertEqual(watcher.removed(set(ids)), [])


class Renewer:
    """Renews leases in a loop (native heartbeats) and records every failure."""

    def __init__(self, clients, leases, period=0.3):
        self.clients = clients
        self.leases = leases
        self.period = period
        self.failures = []
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        for turn in itertools.count():
            if self._stop.is_set():
                return
            for lease in self.leases:
                try:
                    self.clients[turn % len(self.clients)].heartbeat(lease)
                except grpc.RpcError as error:
                    self.failures.append((lease, error.code(), error.details()))
            self.rounds += 1
            self._stop.wait(self.period)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.failures


class EtcdFailureTest(ClusterTestCase):
    """Tests that break etcd run on an etcd cluster of their own."""

    def setUp(self):
        super().setUp()
        self.etcd = EtcdCluster(ARGS.etcd)

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.etcd.close()

    def register_until_acknowledged(self, client, service, instance_id, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                return client.register(service, instance_id)
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                    raise

    def test_losing_the_etcd_leader_loses_no_acknowledged_registration(self):
        nodes = self.start_nodes(2, self.etcd.client_urls)
        a, b = self.client(nodes[0]), self.client(nodes[1])
        leases = [(a, b)[i % 2].register("acked", "a-%d" % i) for i in range(20)]
        for client in (a, b):
            self.assert_eventually(lambda: len(client.discover("acked")) == 20, self.logs)
        renewer = Renewer([a, b], leases)
        leader = self.etcd.leader()
        self.assertIsNotNone(leader)
        self.etcd.kill(leader)
        killed = time.monotonic()
        # Writes resume once etcd elected another leader.
        self.register_until_acknowledged(a, "acked", "after-election")
        measured("the etcd leader is killed", "writes acknowledged again (election timeout 500 ms)", killed)
        self.register_until_acknowledged(b, "acked", "after-election-b")
        while renewer.rounds < 3:
            time.sleep(0.1)
        self.assertEqual(renewer.stop(), [])  # heartbeats never stopped
        expected = {"a-%d" % i for i in range(20)} | {"after-election", "after-election-b"}
        for client in (a, b):
            self.assert_eventually(lambda: set(client.discover("acked")) == expected, self.logs)
        self.etcd.start(leader)
        self.etcd.wait_healthy(leader)

    def test_with_etcd_down_heartbeats_and_reads_go_on_and_writes_fail_naming_etcd(self):
        nodes = self.start_nodes(2, self.etcd.client_urls)
        a, b = self.client(nodes[0]), self.client(nodes[1])
        leases = [(a, b)[i % 2].register("outage", "i-%d" % i, ttl_ms=3000) for i in range(10)]
        for client in (a, b):
            self.assert_eventually(lambda: len(client.discover("outage")) == 10, self.logs)
        renewer = Renewer([a, b], leases)
        for member in range(3):
            self.etcd.kill(member)
        started = time.monotonic()
        while time.monotonic() - started < 2 * NODE_TTL + 3:  # longer than a node lease and the TTLs
            for client in (a, b):
                self.assertEqual(len(client.discover("outage")), 10)
                self.assertTrue(client.serving(), self.logs())
            time.sleep(0.3)
        with self.assertRaises(grpc.RpcError) as error:
            a.register("outage", "during", ttl_ms=3000)
        self.assertEqual(error.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertIn("etcd", error.exception.details())
        for member in range(3):
            self.etcd.start(member)
        for member in range(3):
            self.etcd.wait_healthy(member)
        healthy = time.monotonic()
        self.register_until_acknowledged(b, "outage", "after", timeout=30)
        measured("etcd is entirely down", "writes acknowledged again after etcd is healthy", healthy)
        time.sleep(1)
        self.assertEqual(renewer.stop(), [])
        for client in (a, b):
            self.assert_eventually(lambda: len(client.discover("outage")) == 11, self.logs)
            self.assertTrue(client.serving())


class CutOffTest(ClusterTestCase):
    def test_a_node_cut_off_from_etcd_hands_its_leases_over_and_stops_answering_heartbeats(self):
        proxy = TcpProxy(ETCD.client_ports[0])
        self.addCleanup(proxy.close)
        a, b = [self.client(node) for node in self.start_nodes(2)]
        cut = self.client(*self.start_nodes(1, [proxy.url]))
        leases = [cut.register("cut", "c-%d" % i, ttl_ms=3000) for i in range(5)]
        # Renewed through the others, and now and then through the cut-off node.
        short = cut.register("cut", "short", ttl_ms=1000)
        abandoned = {cut.register("cut", "gone-%d" % i, ttl_ms=3000) for i in range(3)}
        for client in (a, b):
            self.assert_eventually(lambda: len(client.discover("cut")) == 9, self.logs)
        renewer = Renewer([a, b], leases + [short])  # the clients are elsewhere already: renewals are forwarded
        proxy.cut()
        cut_at = time.monotonic()
        event = "a node is cut off from etcd"
        # After --node-ttl the cut-off node refuses heartbeats and leaves
        # rotation. Before it finds itself cut off, once the others took
        # "short" over, its own copy of it lapses (its renewals go to the
        # new holder): asked every 1.5 s, more than that TTL, it must say
        # UNAVAILABLE (try another node), never NOT_FOUND (register again).
        answers = []

        def refused():
            try:
                cut.heartbeat(short)
                answers.append("OK")
                return False
            except grpc.RpcError as error:
                answers.append(error.code().name)
                return error.code() == grpc.StatusCode.UNAVAILABLE and len(answers) > 1
            finally:
                time.sleep(1.5)
        self.time_until(event, "it refuses heartbeats (UNAVAILABLE)", cut_at, refused, timeout=NODE_TTL + 15)
        self.assertNotIn("NOT_FOUND", answers, self.logs())
        self.time_until(event, "it reports NOT_SERVING", cut_at, lambda: cut.serving() is False)
        # The others took the leases over: they expire the abandoned ones (the
        # cut-off node could not), and keep the renewed ones.
        for client in (a, b):
            self.time_until(event, "the others took its leases over: its abandoned ones (TTL 3 s) expired", cut_at,
                            lambda: set(client.discover("cut")) == {"c-%d" % i for i in range(5)} | {"short"},
                            timeout=3 + NODE_TTL + 15)
        self.assertEqual(renewer.failures, [])
        proxy.restore()
        restored = time.monotonic()
        self.time_until(event, "after etcd is reachable again: it serves again", restored,
                        lambda: cut.serving() is True, timeout=NODE_TTL + 15)
        self.assertEqual(cut.heartbeat(leases[0]).ttl_ms, 3000)
        self.assertEqual(renewer.stop(), [])


class BatchTest(ClusterTestCase):
    def test_writes_beyond_one_txn_commit_in_full_batches(self):
        # Far more writes under way than one Txn may hold (etcd's
        # --max-txn-ops, 128): full batches, deletions with their reason
        # marker among them, must stay within etcd's limits.
        client = self.client(*self.start_nodes(1))
        count = 1000
        def all_of(futures):
            return [future.result() for future in futures]
        registered = all_of([client.native.Register.future(pb.registry_pb2.RegisterRequest(
            service="batch", instance_id="b-%d" % i, address="10.4.0.1:80", ttl_ms=30000), timeout=60)
            for i in range(count)])
        self.assertEqual(len(client.discover("batch")), count)
        all_of([client.native.Deregister.future(pb.registry_pb2.DeregisterRequest(lease_id=reply.lease_id),
                                                timeout=60) for reply in registered])
        self.assertEqual(client.discover("batch"), {})

    def test_registrations_on_a_session_commit_in_full_batches(self):
        # A registration on a session is a nested Txn of two compares (the
        # instance's key and the session's): full batches leave room for both.
        client = self.client(*self.start_nodes(1))
        session = SessionClient(client)
        self.addCleanup(session.cancel)
        session.open(30000)
        ids = ["g-%d" % i for i in range(1000)]  # one request's most
        results = session.register("guarded", ids)
        self.assertEqual([(r.code, r.message) for r in results], [(0, "")] * len(ids))
        self.assertEqual(len(client.discover("guarded")), len(ids))
        session.close()
        self.assert_eventually(lambda: client.discover("guarded") == {}, self.logs)


class CompactionTest(ClusterTestCase):
    def test_a_node_whose_watch_missed_compacted_history_loads_the_catalog_again(self):
        writer, proxy, behind_node, behind = self.start_writer_and_watcher_through_proxy()
        lease = writer.register("compacted", "gone")
        self.assert_eventually(lambda: "gone" in behind.discover("compacted"), self.logs)
        proxy.pause()
        writer.deregister(lease)
        writer.register("compacted", "new")
        # Past --max-staleness the node gives its watch up and asks for a new
        # one from where it stopped (held in the proxy): by the time that
        # reaches etcd, the history it needs is compacted away.
        self.assert_eventually(lambda: behind.serving() is False, self.logs)
        ETCD.compact(ETCD.revision())
        proxy.restore()
        self.assert_eventually(lambda: set(behind.discover("compacted")) == {"new"}, self.logs)
        # The log reaches us through a pipe and a reader thread: it may trail what the node serves.
        self.assert_eventually(lambda: "reloaded the catalog" in behind_node.log(), self.logs)
        self.assert_eventually(lambda: behind.serving() is True, self.logs)


class AuthorizationTest(ClusterTestCase):
    """Under a policy, a node's Peer calls need an identity with admin on
    every service: nodes with --peer-token-file forward renewals to each
    other; a client's identity without it is refused; a node without a token
    warns at its start, is refused, and takes the leases over instead."""

    POLICY = ('rule { identity: "node" service: "*" permission: ADMIN }\n'
              'rule { identity: "app" service: "shop*" permission: [REGISTER, READ] }\n')

    def setUp(self):
        super().setUp()
        directory = tempfile.TemporaryDirectory(prefix="cluster_authz_")
        self.addCleanup(directory.cleanup)
        self.files = {name: os.path.join(directory.name, name) for name in ("policy", "tokens", "peer.token")}
        with open(self.files["policy"], "w") as file:
            file.write(self.POLICY)
        with open(self.files["tokens"], "w") as file:
            for token, identity in (("tok-node", "node"), ("tok-app", "app")):
                file.write('token { sha256: "%s" identity: "%s" }\n'
                           % (hashlib.sha256(token.encode()).hexdigest(), identity))
        with open(self.files["peer.token"], "w") as file:
            file.write("tok-node\n")
        self.policy = ["--authz-policy", self.files["policy"], "--auth-tokens", self.files["tokens"]]

    APP = (("authorization", "Bearer tok-app"),)  # the app's calls' metadata

    def renew_elsewhere(self, holder, other, instance_id):
        """The app registers `instance_id` through `holder`, then renews it
        through `other` once `other` sees it (`other` forwards the renewal to
        `holder`). Returns the lease and the app's stub on `other`."""
        lease = self.client(holder).native.Register(pb.registry_pb2.RegisterRequest(
            service="shop", instance_id=instance_id, address="10.7.0.1:80", ttl_ms=30000),
            timeout=RPC_TIMEOUT, metadata=self.APP).lease_id
        native = self.client(other).native
        self.assert_eventually(lambda: instance_id in [i.instance_id for i in native.Discover(
            pb.registry_pb2.DiscoverRequest(service="shop"), timeout=RPC_TIMEOUT, metadata=self.APP).instances],
            self.logs)
        native.Heartbeat(pb.registry_pb2.HeartbeatRequest(lease_id=lease), timeout=RPC_TIMEOUT, metadata=self.APP)
        return lease, native

    @staticmethod
    def peer_call(node, method, token=None):
        """A raw registryd.cluster.Peer call with an empty request: its status code and details."""
        channel = grpc.insecure_channel(node.address)
        try:
            call = channel.unary_unary("/registryd.cluster.Peer/" + method)
            call(b"", timeout=RPC_TIMEOUT, metadata=(("authorization", "Bearer " + token),) if token else None)
            return grpc.StatusCode.OK, ""
        except grpc.RpcError as error:
            return error.code(), error.details()
        finally:
            channel.close()

    def forwarded(self, node):
        return metric(node, 'registryd_heartbeats_total{api="forwarded"}')

    def test_nodes_renew_through_each_other_and_refuse_other_callers(self):
        a, b = self.start_nodes(2, extra=[*self.policy, "--peer-token-file", self.files["peer.token"]])
        self.renew_elsewhere(a, b, "s-1")
        self.assert_eventually(lambda: self.forwarded(a) >= 1, self.logs)
        self.assertNotIn("did not take", b.log())
        self.assertNotIn("--peer-token-file", a.log() + b.log())  # no warning
        # Other callers of the Peer service: the app (no admin on every service), and no identity at all.
        code, details = self.peer_call(a, "Status", "tok-app")
        self.assertEqual(code, grpc.StatusCode.PERMISSION_DENIED, details)
        self.assertIn('identity "app" may not make a cluster node\'s calls for service "*"', details)
        code, details = self.peer_call(a, "Renew")
        self.assertEqual(code, grpc.StatusCode.UNAUTHENTICATED, details)
        self.assertEqual(self.peer_call(a, "Status", "tok-node")[0], grpc.StatusCode.OK)

    def test_a_session_belongs_to_its_opener_on_every_node(self):
        a, b = self.start_nodes(2, extra=[*self.policy, "--peer-token-file", self.files["peer.token"]])
        opener = SessionClient(self.client(a), metadata=self.APP)
        self.addCleanup(opener.cancel)
        opened = opener.open(10000)
        results = opener.register("shop", ["s-1"]) + opener.register("bank", ["s-2"])
        self.assertEqual([r.code for r in results], [0, grpc.StatusCode.PERMISSION_DENIED.value[0]],
                         [r.message for r in results])
        native = self.client(b).native
        self.assert_eventually(lambda: ["s-1"] == [i.instance_id for i in native.Discover(
            pb.registry_pb2.DiscoverRequest(service="shop"), timeout=RPC_TIMEOUT, metadata=self.APP).instances],
            self.logs)
        opener.cancel()
        # On another node, another identity with the token cannot take it; the opener can.
        other = SessionClient(self.client(b), metadata=(("authorization", "Bearer tok-node"),))
        self.addCleanup(other.cancel)
        with self.assertRaises(grpc.RpcError) as refused:
            other.resume(opened.session_id, opened.token)
        self.assertEqual(refused.exception.code(), grpc.StatusCode.PERMISSION_DENIED, refused.exception.details())
        again = SessionClient(self.client(b), metadata=self.APP)
        self.addCleanup(again.cancel)
        resumed = again.resume(opened.session_id, opened.token)
        self.assertEqual((resumed.resumed, resumed.instances), (True, 1))

    def test_a_node_without_a_peer_token_warns_and_takes_the_leases_over(self):
        a = self.start_nodes(1, extra=[*self.policy, "--peer-token-file", self.files["peer.token"]])[0]
        tokenless = self.start_nodes(1, extra=self.policy)[0]
        self.assertIn("--peer-token-file with a token whose identity has admin on every service", tokenless.log())
        lease, native = self.renew_elsewhere(a, tokenless, "s-2")
        # Refused by a: the tokenless node keeps the lease alive by taking it over through etcd.
        self.assert_eventually(lambda: "did not take 1 renewals" in tokenless.log(), self.logs)
        self.assertIn("a caller without an identity may not make a cluster node's calls", tokenless.log())
        self.assertEqual(native.Heartbeat(pb.registry_pb2.HeartbeatRequest(lease_id=lease), timeout=RPC_TIMEOUT,
                                          metadata=self.APP).ttl_ms, 30000)


class MutualTlsAuthorizationTest(ClusterTestCase):
    """Under a policy over mutual TLS the nodes know each other by their
    certificates: they forward renewals to each other with no token, and a
    node whose certificate has no admin on every service says so at its start."""

    def setUp(self):
        super().setUp()
        directory = tempfile.TemporaryDirectory(prefix="cluster_mtls_")
        self.addCleanup(directory.cleanup)
        self.ca = Authority(directory.name, "cluster-ca")
        self.node_cert = self.ca.issue("node", "URI:spiffe://test/registryd-node,IP:127.0.0.1")
        self.app_cert = self.ca.issue("app", "URI:spiffe://test/app")
        self.policy = os.path.join(directory.name, "policy")
        with open(self.policy, "w") as file:
            file.write('rule { identity: "spiffe://test/registryd-node" service: "*" permission: ADMIN }\n'
                       'rule { identity: "spiffe://test/app" service: "shop*" permission: [REGISTER, READ] }\n')

    def flags(self, cert_and_key):
        return ["--tls-cert", cert_and_key[0], "--tls-key", cert_and_key[1], "--tls-client-ca", self.ca.cert,
                "--authz-policy", self.policy]

    def app(self, *nodes):
        """A client presenting the app's certificate."""
        with open(self.ca.cert, "rb") as ca, open(self.app_cert[1], "rb") as key, open(self.app_cert[0], "rb") as cert:
            credentials = grpc.ssl_channel_credentials(ca.read(), key.read(), cert.read())
        client = Client(*[node.address for node in nodes], credentials=credentials)
        self.clients.append(client)
        return client

    def https(self):
        context = ssl.create_default_context(cafile=self.ca.cert)
        context.load_cert_chain(*self.node_cert)
        return context

    def test_nodes_renew_through_each_other_by_their_certificates(self):
        a, b = self.start_nodes(2, extra=self.flags(self.node_cert))
        on_a, on_b = self.app(a), self.app(b)
        lease = on_a.register("shop", "m-1")
        self.assert_eventually(lambda: "m-1" in on_b.discover("shop"), self.logs)
        on_b.heartbeat(lease)  # forwarded to a, which keeps the lease
        self.assert_eventually(
            lambda: metric(a, 'registryd_heartbeats_total{api="forwarded"}', self.https()) >= 1, self.logs)
        self.assertNotIn("did not take", b.log())
        self.assertNotIn("no admin on every service", a.log() + b.log())  # no warning at the start

    def test_a_node_whose_certificate_lacks_admin_says_so_at_its_start(self):
        weak = self.ca.issue("weak-node", "URI:spiffe://test/app,IP:127.0.0.1")
        node = self.start_nodes(1, extra=self.flags(weak))[0]
        self.assertIn('this node\'s certificate (--tls-cert) names "spiffe://test/app", which has no admin on every '
                      "service", node.log())


class EtcdTlsTest(ClusterTestCase):
    def test_nodes_reach_an_etcd_that_requires_client_certificates(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        ca = Authority(directory.name, "etcd-ca")
        server_cert, server_key = ca.issue("etcd", "IP:127.0.0.1")
        client_cert, client_key = ca.issue("registryd", "DNS:registryd")
        etcd = EtcdCluster(ARGS.etcd, members=1, tls=EtcdTls(ca.cert, server_cert, server_key, client_cert, client_key))
        self.addCleanup(etcd.close)  # after tearDown stopped the nodes
        tls = ["--etcd-ca", ca.cert, "--etcd-cert", client_cert, "--etcd-key", client_key]
        a, b = [self.client(node) for node in self.start_nodes(2, etcd.client_urls, extra=tls)]
        a.register("tls", "t-1")
        self.assert_eventually(lambda: "t-1" in b.discover("tls"), self.logs)


class StartupTest(ClusterTestCase):
    def test_a_node_started_before_etcd_is_reachable_joins_once_it_is(self):
        # As when registryd and etcd start together: the node's first
        # connections fail, and it must go on trying until etcd answers.
        proxy = TcpProxy(ETCD.client_ports[0])
        self.addCleanup(proxy.close)
        proxy.cut()
        node = Node(ARGS.registryd, [proxy.url], self.prefix, node_ttl="%ds" % NODE_TTL, wait=False)
        self.nodes.append(node)
        self.assert_eventually(lambda: node.log().count("trying again") >= 3, self.logs)
        proxy.restore()
        node.wait_listening()
        client = self.client(node)
        client.register("late", "a")
        self.assertEqual(set(client.discover("late")), {"a"})


    def test_an_empty_catalog_loads_in_a_handful_of_ranges(self):
        # Each kind (nodes, sessions, instances, seeds) is counted, then
        # loaded whole while small: an empty catalog took 513 Ranges, one per
        # bucket of every kind.
        def ranges_served():
            total = 0.0
            for member in range(len(ETCD.client_urls)):
                for line in ETCD._get(member, "/metrics").splitlines():
                    if line.startswith("grpc_server_handled_total{") and 'grpc_method="Range"' in line:
                        total += float(line.rsplit(" ", 1)[1])
            return total

        before = ranges_served()
        client = self.client(*self.start_nodes(1))
        served = ranges_served() - before
        self.assertGreaterEqual(served, 4, "etcd counted fewer Ranges than the load's kinds")
        self.assertLessEqual(served, 12, self.logs())
        client.register("loaded", "a")
        self.assertEqual(set(client.discover("loaded")), {"a"})


class XdsAcrossNodesTest(ClusterTestCase):
    def test_an_xds_client_of_one_node_follows_changes_made_through_another(self):
        a_node, b_node = self.start_nodes(2)
        a = self.client(a_node)
        backends = [Backend("c0"), Backend("c1")]
        for backend in backends:
            self.addCleanup(backend.server.stop, None)
        leases = [a.register("echo", backend.name, address=backend.address) for backend in backends]
        scratch = tempfile.mkdtemp(prefix="cluster_test_xds_")
        self.addCleanup(shutil.rmtree, scratch, ignore_errors=True)
        bootstrap = os.path.join(scratch, "bootstrap.json")
        with open(bootstrap, "w") as out:
            json.dump({"xds_servers": [{"server_uri": b_node.address, "channel_creds": [{"type": "insecure"}],
                                        "server_features": ["xds_v3"]}],
                       "node": {"id": "cluster_test", "locality": {}}}, out)
        here = os.path.dirname(os.path.abspath(__file__))
        client = XdsClient("python", [sys.executable, os.path.join(here, "..", "xds", "xds_echo_client.py")], scratch,
                           dict(os.environ, GRPC_XDS_BOOTSTRAP=bootstrap), os.path.join(scratch, "client.log"))
        self.addCleanup(client.stop)
        last = []

        def shows(*names):
            last.append(client.calls("xds:///echo", 30, 5000))
            return not last[-1]["errors"] and set(last[-1]["backends"]) == set(names)
        self.assert_eventually(lambda: shows("c0", "c1"), lambda: "calls through node B: %s" % last[-1:])
        a.deregister(leases[0])  # through node A
        self.assert_eventually(lambda: shows("c1"), lambda: "calls through node B: %s" % last[-1:])


class DnsAcrossNodesTest(ClusterTestCase):
    def test_a_registration_through_one_node_is_answered_by_the_dns_face_of_every_node(self):
        try:
            import dns.message
            import dns.query
        except ImportError:
            self.skipTest("no dnspython (python3-dnspython)")
        nodes = self.start_nodes(3)
        ports = [int(re.search(r"DNS face on 127\.0\.0\.1:(\d+)", node.log()).group(1)) for node in nodes]

        def answered(port):
            reply = dns.query.udp(dns.message.make_query("shared.service.registryd.", "A"), "127.0.0.1", port=port,
                                  timeout=RPC_TIMEOUT)
            return sorted(rdata.to_text() for rrset in reply.answer for rdata in rrset)
        self.client(nodes[0]).register("shared", "s1", address="10.9.0.1:80")
        for port in ports:
            self.assert_eventually(lambda: answered(port) == ["10.9.0.1"], self.logs)


class StalledWatchTest(ClusterTestCase):
    def test_a_node_whose_watch_stalls_says_so_and_catches_up(self):
        writer, proxy, stalled_node, stalled = self.start_writer_and_watcher_through_proxy()
        writer.register("stall", "before")
        self.assert_eventually(lambda: "before" in stalled.discover("stall"), self.logs)
        proxy.pause()
        paused = time.monotonic()
        event = "a node's etcd watch stalls"
        during = writer.register("stall", "during")
        # --max-staleness is 1.5 s for the tests' nodes.
        self.time_until(event, "it reports NOT_SERVING (--max-staleness 1.5 s)", paused,
                        lambda: stalled.serving() is False)
        # Stale, it does not deny a lease it has not seen: try again.
        with self.assertRaises(grpc.RpcError) as raised:
            stalled.heartbeat(during)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.UNAVAILABLE, describe(raised.exception))
        self.assert_eventually(lambda: "view of the catalog is" in stalled_node.log(), self.logs)
        proxy.restore()
        restored = time.monotonic()
        self.time_until(event, "after the watch flows again: the change missed is seen", restored,
                        lambda: "during" in stalled.discover("stall"))
        self.time_until(event, "after the watch flows again: it serves again", restored,
                        lambda: stalled.serving() is True)


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registryd", required=True)
    parser.add_argument("--etcd", required=True)
    parser.add_argument("--protos", required=True)
    parser.add_argument("--protoc", required=True)
    parser.add_argument("--grpc-python-plugin", required=True)
    parser.add_argument("--many", type=int, default=10000,
                        help="instances of the many-instances test (smaller under the slow sanitizers)")
    ARGS, rest = parser.parse_known_args()
    program = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    if MEASURED:
        print("\nMeasured (--node-ttl %d s, --max-staleness 1.5 s, etcd --election-timeout 500 ms):" % NODE_TTL,
              file=sys.stderr)
        slowest = {}  # of the nodes a test waited on, the last to get there
        for event, outcome, seconds in MEASURED:
            slowest[(event, outcome)] = max(seconds, slowest.get((event, outcome), 0))
        for (event, outcome), seconds in slowest.items():
            print("  %-30s %-75s %6.2f s" % (event, outcome, seconds), file=sys.stderr)
    sys.exit(0 if program.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
