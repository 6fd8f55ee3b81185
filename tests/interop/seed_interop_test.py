#!/usr/bin/python3
"""Interop test: the seed's Python gRPC clients against the real registryd binary.

registryd must be a drop-in replacement for the seed's Python name server, so this
test talks to it exactly the way the Bazar's data servers and clients do: through
stubs that protoc and grpc_python_plugin generate from the seed's frozen .proto
files, with plain stub calls. It also checks that the seed API and the native
registry.v1 API share one registry.

Usage (needs Debian's python3-grpcio and python3-protobuf, i.e. /usr/bin/python3):

  /usr/bin/python3 tests/interop/seed_interop_test.py \
      --registryd build/src/registryd --protos protos \
      --protoc /usr/bin/protoc --grpc-python-plugin /usr/bin/grpc_python_plugin [-v]

Any further arguments go to unittest (e.g. -v, -k PATTERN).
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import grpc

import stubs
from registry_process import ServerProcess

# Set by main() from the command line.
ARGS = None

# Every RPC gets a deadline so that a hung server fails the test instead of hanging it.
RPC_TIMEOUT_S = 10
# How long the server may take to print its "listening on" line.
STARTUP_TIMEOUT_S = 30
# Overall limit when waiting for a 1 s lease to expire.
EXPIRY_TIMEOUT_S = 20
LOOPBACK = "127.0.0.1"

# Filled by setUpModule.
registry_service_pb2 = None
registry_service_pb2_grpc = None
discovery_service_pb2 = None
discovery_service_pb2_grpc = None
registry_pb2 = None
registry_pb2_grpc = None

_gen_dir = None
_server = None
_channel = None


def generate_stubs(out_dir):
    """Generates the seed and native stubs and makes them this module's globals."""
    globals().update(vars(stubs.generate(ARGS.protos, ARGS.protoc, ARGS.grpc_python_plugin, out_dir)))


def setUpModule():
    global _gen_dir, _server, _channel
    _gen_dir = tempfile.TemporaryDirectory(prefix="seed_interop_")
    generate_stubs(_gen_dir.name)

    argv = [ARGS.registryd, "--listen", LOOPBACK + ":0", "--lease-ttl", "3s",
            "--min-ttl", "100ms", "--tick", "50ms", "--log-level", "debug",
            "--data-dir", os.path.join(_gen_dir.name, "data")]
    _server = ServerProcess(argv)
    address = _server.wait_listening(STARTUP_TIMEOUT_S)

    _channel = grpc.insecure_channel(address, options=[("grpc.enable_http_proxy", 0)])
    try:
        grpc.channel_ready_future(_channel).result(timeout=STARTUP_TIMEOUT_S)
    except grpc.FutureTimeoutError:
        _channel.close()
        _server.kill()
        raise RuntimeError("could not connect to registryd at %s\n--- registryd stderr ---\n%s"
                           % (address, _server.stderr_text()))


def tearDownModule():
    """Stops the server with SIGTERM: it must exit with code 0 by itself."""
    global _channel
    try:
        if _channel is not None:
            _channel.close()
            _channel = None
        if _server is not None:
            _server.stop()
    finally:
        if _server is not None:
            _server.kill()
        if _gen_dir is not None:
            _gen_dir.cleanup()


class SeedTestCase(unittest.TestCase):
    """Plain stub calls, as the seed's data servers and clients make them."""

    def setUp(self):
        self.registry = registry_service_pb2_grpc.RegistryServiceStub(_channel)
        self.discovery = discovery_service_pb2_grpc.DiscoveryServiceStub(_channel)
        self.native = registry_pb2_grpc.RegistryStub(_channel)

    # --- seed data server calls ---------------------------------------------------------

    def register(self, server_id, port, service, ip=LOOPBACK, overloaded=False):
        reply = self.registry.discovery(
            registry_service_pb2.RecordRequest(serverId=server_id, serverIp=ip, serverPort=port,
                                               overloaded=overloaded, service=service),
            timeout=RPC_TIMEOUT_S)
        self.assertTrue(reply.success, "discovery(serverId=%d) returned success=false" % server_id)
        return reply

    def heartbeat(self, server_id, overloaded=False):
        return self.registry.heartBeat(
            registry_service_pb2.RenewRequest(serverId=server_id, overloaded=overloaded),
            timeout=RPC_TIMEOUT_S)

    def keep_alive(self, *server_ids):
        for server_id in server_ids:
            reply = self.heartbeat(server_id)
            self.assertTrue(reply.success, "heartBeat(serverId=%d) returned success=false" % server_id)

    # --- seed client calls --------------------------------------------------------------

    def find(self, service):
        return self.discovery.findServer(discovery_service_pb2.QueryRequest(service=service),
                                         timeout=RPC_TIMEOUT_S)

    def warn(self, server_id):
        return self.discovery.warnServerError(discovery_service_pb2.ServerError(serverId=server_id),
                                              timeout=RPC_TIMEOUT_S)

    def assert_rpc_error(self, code, fn, *args, **kwargs):
        with self.assertRaises(grpc.RpcError) as ctx:
            fn(*args, **kwargs)
        err = ctx.exception
        self.assertEqual(err.code(), code, "want %s, got %s: %r" % (code, err.code(), err.details()))
        return err


class DataServerFlowTest(SeedTestCase):
    """1. What a seed data server does: register, heartbeat, and re-register after expiry."""

    def test_register_heartbeat_expire(self):
        service, sid, port = "interop-flow-1", 11, 50111
        self.register(sid, port, service)
        self.assertTrue(self.heartbeat(sid, overloaded=False).success)
        self.assertTrue(self.heartbeat(sid, overloaded=True).success)
        self.assertTrue(self.heartbeat(sid, overloaded=False).success)

        # Stop heartbeating. findServer does not renew the lease, so poll it until the
        # server is gone (3 s TTL), then the next heartbeat must be refused.
        deadline = time.monotonic() + EXPIRY_TIMEOUT_S
        while True:
            reply = self.find(service)
            if not reply.querySuccess:
                break
            self.assertEqual(reply.serverId, sid)
            if time.monotonic() > deadline:
                self.fail("server %d still returned by findServer %s s after its last heartbeat (TTL 3 s)"
                          % (sid, EXPIRY_TIMEOUT_S))
            time.sleep(0.1)

        err = self.assert_rpc_error(grpc.StatusCode.NOT_FOUND, self.heartbeat, sid)
        self.assertIn("register", (err.details() or "").lower(),
                      "NOT_FOUND details should tell the server to register again: %r" % err.details())

        # Registering again (what the data server does next) brings it back.
        self.register(sid, port, service)
        reply = self.find(service)
        self.assertTrue(reply.querySuccess)
        self.assertEqual((reply.serverId, reply.serverIp, reply.serverPort), (sid, LOOPBACK, port))
        self.assertTrue(self.heartbeat(sid).success)

    def test_heartbeat_unknown_id_is_not_found(self):
        for unknown in (999999, 424242):
            err = self.assert_rpc_error(grpc.StatusCode.NOT_FOUND, self.heartbeat, unknown)
            self.assertIn("register", (err.details() or "").lower(),
                          "NOT_FOUND details should tell the server to register again: %r" % err.details())

    def test_discovery_is_an_upsert(self):
        service, sid = "interop-flow-upsert", 12
        self.register(sid, 50121, service)
        self.register(sid, 50122, service)  # same id again: updated in place, not duplicated
        for _ in range(4):
            reply = self.find(service)
            self.assertTrue(reply.querySuccess)
            self.assertEqual((reply.serverId, reply.serverPort), (sid, 50122))


class ClientFlowTest(SeedTestCase):
    """2. What a seed client does: findServer, warnServerError."""

    def test_round_robin_and_warn(self):
        service = "interop-client-rr"
        ports = {101: 50201, 102: 50202}
        for sid, port in ports.items():
            self.register(sid, port, service)

        self.keep_alive(101, 102)
        seen = set()
        for _ in range(2):
            reply = self.find(service)
            self.assertTrue(reply.querySuccess)
            self.assertIn(reply.serverId, ports)
            self.assertEqual(reply.serverIp, LOOPBACK)
            self.assertEqual(reply.serverPort, ports[reply.serverId])
            seen.add(reply.serverId)
        self.assertEqual(seen, {101, 102}, "two findServer calls should rotate over both servers")

        # 101 does not answer: the client warns. Everything below until 101's next
        # heartbeat happens promptly, well within the 1 s lease.
        self.keep_alive(101, 102)
        reply = self.warn(101)
        self.assertTrue(reply.querySuccess, "warnServerError(101) should offer the other live server")
        self.assertEqual((reply.serverId, reply.serverIp, reply.serverPort), (102, LOOPBACK, 50202))
        for _ in range(5):
            reply = self.find(service)
            self.assertTrue(reply.querySuccess)
            self.assertEqual(reply.serverId, 102, "a warned server must leave findServer's rotation")
        # 101's lease was still alive all along: its heartbeat succeeds and brings it back.
        self.assertTrue(self.heartbeat(101).success)
        self.keep_alive(102)
        seen = set()
        for _ in range(2):
            reply = self.find(service)
            self.assertTrue(reply.querySuccess)
            seen.add(reply.serverId)
        self.assertEqual(seen, {101, 102}, "after 101's heartbeat findServer should rotate over both again")

    def test_warn_only_server(self):
        service, sid = "interop-client-warn-only", 111
        self.register(sid, 50211, service)
        reply = self.warn(sid)
        self.assertFalse(reply.querySuccess, "no other server of the service: querySuccess must be false")
        reply = self.find(service)
        self.assertFalse(reply.querySuccess, "the only server was warned: findServer must find none")
        self.assertTrue(self.heartbeat(sid).success)
        reply = self.find(service)
        self.assertTrue(reply.querySuccess)
        self.assertEqual(reply.serverId, sid)

    def test_warn_unknown_id(self):
        reply = self.warn(987654)  # status OK (no exception), flag false
        self.assertFalse(reply.querySuccess)

    def test_find_unknown_service(self):
        reply = self.find("interop-client-no-such-service")  # status OK (no exception), flag false
        self.assertFalse(reply.querySuccess)

    def test_all_overloaded_fallback(self):
        service, sid = "interop-client-overloaded", 121
        self.register(sid, 50221, service)
        self.assertTrue(self.heartbeat(sid, overloaded=True).success)
        for _ in range(3):
            reply = self.find(service)
            self.assertTrue(reply.querySuccess, "a busy server beats no server")
            self.assertEqual((reply.serverId, reply.serverIp, reply.serverPort), (sid, LOOPBACK, 50221))

    def test_registered_overloaded_fallback(self):
        service, sid = "interop-client-overloaded-reg", 122
        self.register(sid, 50222, service, overloaded=True)
        reply = self.find(service)
        self.assertTrue(reply.querySuccess)
        self.assertEqual(reply.serverId, sid)

    def test_overloaded_server_skipped_when_another_is_free(self):
        service = "interop-client-mixed"
        self.register(131, 50231, service)
        self.register(132, 50232, service)
        self.assertTrue(self.heartbeat(131, overloaded=True).success)
        self.assertTrue(self.heartbeat(132, overloaded=False).success)
        for _ in range(4):
            reply = self.find(service)
            self.assertTrue(reply.querySuccess)
            self.assertEqual(reply.serverId, 132, "the overloaded server must be skipped while another is free")


class BadInputTest(SeedTestCase):
    """3. Invalid registrations are refused with INVALID_ARGUMENT and change nothing."""

    def test_invalid_discovery(self):
        service, sid, port = "interop-bad-input", 201, 50301
        self.register(sid, port, service)

        cases = [
            ("serverPort", dict(serverIp=LOOPBACK, serverPort=0, service=service)),
            ("serverPort", dict(serverIp=LOOPBACK, serverPort=70000, service=service)),
            ("serverPort", dict(serverIp=LOOPBACK, serverPort=-1, service=service)),
            ("serverIp", dict(serverIp="", serverPort=50302, service=service)),
            ("service", dict(serverIp=LOOPBACK, serverPort=50303, service="")),
        ]
        for field, fields in cases:
            # Both a new id and the registered one (a rejected update must not touch it).
            for server_id in (202, sid):
                with self.subTest(field=field, serverId=server_id, **fields):
                    request = registry_service_pb2.RecordRequest(serverId=server_id, overloaded=False, **fields)
                    err = self.assert_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, self.registry.discovery,
                                                request, timeout=RPC_TIMEOUT_S)
                    self.assertIn(field, err.details() or "",
                                  "INVALID_ARGUMENT details should name %s: %r" % (field, err.details()))

        # Nothing changed: the registered server is still found as it was; the rejected
        # new id was not registered.
        for _ in range(3):
            reply = self.find(service)
            self.assertTrue(reply.querySuccess)
            self.assertEqual((reply.serverId, reply.serverIp, reply.serverPort), (sid, LOOPBACK, port))
        self.assertTrue(self.heartbeat(sid).success)
        self.assert_rpc_error(grpc.StatusCode.NOT_FOUND, self.heartbeat, 202)


class CrossApiTest(SeedTestCase):
    """4. The seed API and the native registry.v1 API share one registry."""

    def test_seed_registration_visible_natively(self):
        service, sid, port = "interop-cross-seed", 301, 50401
        self.register(sid, port, service)
        response = self.native.Discover(registry_pb2.DiscoverRequest(service=service), timeout=RPC_TIMEOUT_S)
        got = [(i.service, i.instance_id, i.address) for i in response.instances]
        self.assertEqual(got, [(service, str(sid), "%s:%d" % (LOOPBACK, port))])

    def test_native_registration_visible_to_seed(self):
        service = "interop-cross-native"
        response = self.native.Register(
            registry_pb2.RegisterRequest(service=service, address=LOOPBACK + ":9", instance_id="777"),
            timeout=RPC_TIMEOUT_S)
        self.assertEqual(response.instance_id, "777")
        reply = self.find(service)
        self.assertTrue(reply.querySuccess)
        self.assertEqual((reply.serverId, reply.serverIp, reply.serverPort), (777, LOOPBACK, 9))
        self.native.Deregister(registry_pb2.DeregisterRequest(lease_id=response.lease_id), timeout=RPC_TIMEOUT_S)
        self.assertFalse(self.find(service).querySuccess)


def start_own_registryd(test, *flags):
    """A registryd of the test's own (stopped when the test ends) and a channel to it."""
    server = ServerProcess([ARGS.registryd, "--listen", LOOPBACK + ":0", *flags])
    test.addCleanup(server.kill)
    address = server.wait_listening(STARTUP_TIMEOUT_S)
    channel = grpc.insecure_channel(address, options=[("grpc.enable_http_proxy", 0)])
    test.addCleanup(channel.close)
    grpc.channel_ready_future(channel).result(timeout=STARTUP_TIMEOUT_S)
    return server, channel


class KillDashNineTest(unittest.TestCase):
    """The seed's data servers never register again after NOT_FOUND, so a
    registry restart must not forget them: registryd under --fsync always is
    killed with SIGKILL in the middle of a registration load, restarted on the
    same data dir, and every registration it acknowledged answers heartBeat."""

    def start(self, data_dir):
        server, channel = start_own_registryd(self, "--data-dir", data_dir, "--fsync", "always",
                                              "--restore-spread", "1s")
        return server, channel, registry_service_pb2_grpc.RegistryServiceStub(channel)

    def test_every_acknowledged_registration_survives_sigkill(self):
        data_dir = os.path.join(_gen_dir.name, "kill-9")
        server, _, registry = self.start(data_dir)
        acknowledged = []
        lock = threading.Lock()
        stop = threading.Event()

        def load(first_id):
            server_id = first_id
            while not stop.is_set():
                try:
                    reply = registry.discovery(registry_service_pb2.RecordRequest(
                        serverId=server_id, serverIp=LOOPBACK, serverPort=9000, service="Bazar"), timeout=5)
                except grpc.RpcError:
                    return  # the registry is gone: this one was not acknowledged
                if reply.success:
                    with lock:
                        acknowledged.append(server_id)
                server_id += 1

        threads = [threading.Thread(target=load, args=(100_000 * (n + 1),)) for n in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with lock:
                if len(acknowledged) >= 300:
                    break
            time.sleep(0.01)
        server.proc.kill()  # SIGKILL, mid-load
        server.proc.wait()
        stop.set()
        for thread in threads:
            thread.join()
        self.assertGreaterEqual(len(acknowledged), 300, server.stderr_text())

        restarted, channel, registry = self.start(data_dir)
        def alive(server_id):
            try:
                return registry.heartBeat(registry_service_pb2.RenewRequest(serverId=server_id),
                                          timeout=RPC_TIMEOUT_S).success
            except grpc.RpcError as error:
                self.assertEqual(error.code(), grpc.StatusCode.NOT_FOUND)
                return False

        lost = [server_id for server_id in acknowledged if not alive(server_id)]
        self.assertEqual(lost, [], restarted.stderr_text())
        self.assertRegex(restarted.stderr_text(), r"restored \d+ instances")
        channel.close()
        restarted.stop()


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS for %d" % pid)


# A client process that opens Watch and KeepAlive streams and waits to be killed.
STREAM_CLIENT = """
import sys, time, grpc
sys.path.insert(0, sys.argv[2])
from registry.v1 import registry_pb2, registry_pb2_grpc
channel = grpc.insecure_channel(sys.argv[1])
stub = registry_pb2_grpc.RegistryStub(channel)
watches = [stub.Watch(registry_pb2.WatchRequest(service="Bazar")) for _ in range(20)]
for watch in watches:
    next(watch)  # the snapshot: the stream is open
def renewals():
    yield registry_pb2.KeepAliveRequest(lease_id=1, bind_to_stream=True)
    time.sleep(600)  # the stream stays open until the process is killed
keep = stub.KeepAlive(renewals())
next(keep)  # its answer (NOT_FOUND for lease 1): the stream is open
print("open", flush=True)
time.sleep(600)
"""


class HostileClientsTest(unittest.TestCase):
    """Clients that misbehave do not hurt the others: a thousand idle
    connections, clients killed (SIGKILL) with Watch and KeepAlive streams
    open, calls whose deadline passed before they arrived, and oversized
    requests. Afterwards registryd is healthy, a registration made before is
    intact, a second round of the same abuse does not grow its memory (what
    the first round allocated is reused, not leaked), and it stops cleanly
    (under ASan: LeakSanitizer finds nothing left behind)."""

    def abuse(self, address):
        idle = [grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1),
                                                        ("grpc.enable_http_proxy", 0)]) for _ in range(1000)]
        for channel in idle:
            grpc.channel_ready_future(channel).result(timeout=STARTUP_TIMEOUT_S)
        clients = [subprocess.Popen([sys.executable, "-c", STREAM_CLIENT, address, _gen_dir.name],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _ in range(5)]
        for client in clients:
            self.assertEqual(client.stdout.readline().strip(), "open")
        for client in clients:
            client.kill()
            client.wait()
            client.stdout.close()
        registry = registry_service_pb2_grpc.RegistryServiceStub(idle[0])
        # Deadlines that pass on the way: the server sees them expired on arrival (or
        # answers first; either way nothing else is disturbed).
        for server_id in range(200):
            try:
                registry.discovery(registry_service_pb2.RecordRequest(
                    serverId=50_000 + server_id, serverIp=LOOPBACK, serverPort=9, service="Late"), timeout=1e-6)
            except grpc.RpcError as late:
                self.assertEqual(late.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        for _ in range(50):
            with self.assertRaises(grpc.RpcError) as huge:
                registry.discovery(registry_service_pb2.RecordRequest(
                    serverId=1, serverIp=LOOPBACK, serverPort=9, service="x" * 100_000), timeout=RPC_TIMEOUT_S)
            self.assertEqual(huge.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        for channel in idle:
            channel.close()

    def test_the_server_stays_healthy_and_its_memory_does_not_grow(self):
        server, channel = start_own_registryd(self, "--data-dir", "")
        registry = registry_service_pb2_grpc.RegistryServiceStub(channel)
        self.assertTrue(registry.discovery(registry_service_pb2.RecordRequest(
            serverId=7, serverIp=LOOPBACK, serverPort=7000, service="Bazar"), timeout=RPC_TIMEOUT_S).success)
        self.abuse(server.address)
        after_first = rss_bytes(server.proc.pid)
        self.abuse(server.address)
        after_second = rss_bytes(server.proc.pid)
        print("registryd RSS: %.1f MB after one round, %.1f MB after two" % (after_first / 2**20, after_second / 2**20),
              file=sys.stderr)
        if not ARGS.asan:
            # Under ASan, RSS keeps growing by a few MB a round (quarantine, no reuse of
            # freed chunks) while the plain build's stays flat; there, LeakSanitizer at the
            # clean stop below is the check.
            self.assertLess(after_second - after_first, 16 << 20,
                            "%d bytes more after the second round than after the first" % (after_second - after_first))
        health = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda request: request,
                                     response_deserializer=lambda reply: reply)
        self.assertEqual(health(b"", timeout=RPC_TIMEOUT_S), b"\x08\x01")  # status: SERVING
        self.assertTrue(registry.heartBeat(registry_service_pb2.RenewRequest(serverId=7), timeout=RPC_TIMEOUT_S).success)
        found = discovery_service_pb2_grpc.DiscoveryServiceStub(channel).findServer(
            discovery_service_pb2.QueryRequest(service="Bazar"), timeout=RPC_TIMEOUT_S)
        self.assertEqual((found.querySuccess, found.serverId), (True, 7))
        channel.close()
        server.stop()  # exit code 0: under ASan, LeakSanitizer found nothing the abuse left behind


def thread_names(pid):
    """How many threads of each name the process has (Linux cuts names to 15 bytes)."""
    names = collections.Counter()
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, task)) as comm:
                names[comm.read().strip()] += 1
        except FileNotFoundError:  # the thread ended meanwhile
            pass
    return names


# The threads registryd may have: its own (main, one per completion queue,
# the journal's), gRPC's core (executors, timers, its event engine) and the
# one thread of the synchronous reflection service. A name that is not here
# is a thread someone added: see what it costs per call (docs/PERFORMANCE.md)
# before adding it.
ALLOWED_THREADS = {"registryd", "default-executo", "resolver-execut", "event_engine", "grpc_global_tim",
                   "timer_manager", "grpcpp_sync_ser"}


class ServerThreadsTest(SeedTestCase):
    """Every RPC, health's included, is served on registryd's completion-queue
    threads: no callback-API service polls beside them (gRPC 1.51's default
    health service brought two 'nexting_thread's, and every call paid for
    their wake-ups)."""

    def test_no_callback_api_threads_after_every_kind_of_call(self):
        check = _channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda request: request,
                                     response_deserializer=lambda reply: reply)
        self.assertEqual(check(b"", timeout=RPC_TIMEOUT_S), b"\x08\x01")  # status: SERVING
        watch = _channel.unary_stream("/grpc.health.v1.Health/Watch", request_serializer=lambda request: request,
                                      response_deserializer=lambda reply: reply)
        updates = watch(b"", timeout=RPC_TIMEOUT_S)
        self.assertEqual(next(updates), b"\x08\x01")
        self.register(4242, 4242, "Threads")
        self.keep_alive(4242)
        self.assertTrue(self.find("Threads").querySuccess)
        self.native.Discover(registry_pb2.DiscoverRequest(service="Threads"), timeout=RPC_TIMEOUT_S)

        names = thread_names(_server.pid)
        updates.cancel()
        self.assertNotIn("nexting_thread", names)
        self.assertLessEqual(set(names), ALLOWED_THREADS, "threads: %s" % dict(names))
        self.assertLessEqual(names["grpcpp_sync_ser"], 1, "threads: %s" % dict(names))


class ClientSideHealthCheckingTest(unittest.TestCase):
    """gRPC's own client-side health checking (a service config's
    healthCheckConfig, round_robin) watches registryd's health service over a
    Health/Watch stream: with a name registryd serves (SERVING) the server is
    in rotation; with a name it does not serve (SERVICE_UNKNOWN) it is not,
    and calls fail fast with UNAVAILABLE."""

    def stub(self, health_service):
        config = json.dumps({"loadBalancingConfig": [{"round_robin": {}}],
                             "healthCheckConfig": {"serviceName": health_service}})
        channel = grpc.insecure_channel(_server.address, options=[("grpc.service_config", config),
                                                                  ("grpc.enable_http_proxy", 0)])
        self.addCleanup(channel.close)
        return registry_service_pb2_grpc.RegistryServiceStub(channel)

    def test_a_served_name_puts_the_server_in_rotation(self):
        reply = self.stub("registry_service.RegistryService").discovery(
            registry_service_pb2.RecordRequest(serverId=4343, serverIp=LOOPBACK, serverPort=4343, service="Health"),
            timeout=RPC_TIMEOUT_S, wait_for_ready=True)
        self.assertTrue(reply.success)

    def test_an_unknown_name_keeps_the_server_out_of_rotation(self):
        with self.assertRaises(grpc.RpcError) as raised:
            self.stub("no.such.Service").heartBeat(registry_service_pb2.RenewRequest(serverId=4343),
                                                   timeout=RPC_TIMEOUT_S)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.UNAVAILABLE, raised.exception.details())


# A client that makes one call and then keeps its connection open and idle,
# with gRPC's backup poller off: it never reads the server's GOAWAY.
IDLE_CLIENT = """
import os, sys, time
os.environ["GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS"] = "0"
import grpc
sys.path.insert(0, sys.argv[2])
import registry_service_pb2, registry_service_pb2_grpc
channel = grpc.insecure_channel(sys.argv[1])
registry = registry_service_pb2_grpc.RegistryServiceStub(channel)
registry.discovery(registry_service_pb2.RecordRequest(serverId=1, serverIp="127.0.0.1", serverPort=9, service="Idle"),
                   timeout=10)
print("called", flush=True)
time.sleep(600)
"""


class ShutdownTest(unittest.TestCase):
    """A client connection that stays open after its last call does not hold
    up a stop: gRPC's graceful shutdown waits for clients to close their
    connections, and registryd closes them once no call is under way instead
    of waiting out --shutdown-timeout."""

    def test_an_idle_client_connection_does_not_delay_the_stop(self):
        server, channel = start_own_registryd(self, "--data-dir", "", "--shutdown-timeout", "10m")
        channel.close()
        client = subprocess.Popen([sys.executable, "-c", IDLE_CLIENT, server.address, _gen_dir.name],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(client.stdout.close)
        self.addCleanup(client.stderr.close)
        self.addCleanup(client.wait)
        self.addCleanup(client.kill)
        self.assertEqual(client.stdout.readline().strip(), "called",
                         client.stderr.read() if client.poll() is not None else "")
        # Without closing, gRPC waits out its 20 s GOAWAY timer (or the shutdown
        # timeout, if shorter); closing takes milliseconds.
        server.stop(timeout=10)


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registryd", required=True, help="the registryd binary")
    parser.add_argument("--protos", required=True, help="the protos/ directory")
    parser.add_argument("--protoc", required=True, help="protoc")
    parser.add_argument("--grpc-python-plugin", required=True, help="grpc_python_plugin")
    parser.add_argument("--asan", action="store_true",
                        help="registryd is built with AddressSanitizer: its allocator's RSS says nothing about leaks")
    ARGS, rest = parser.parse_known_args()
    program = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    sys.exit(0 if program.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
