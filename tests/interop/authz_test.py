#!/usr/bin/python3
"""Authorization end to end (issue 16): the real registryd binary with
--authz-policy and --auth-tokens, called by Python gRPC clients (stubs that
protoc and grpc_python_plugin generate from the project's protos) as several
identities:

- under mutual TLS, from client certificates made here with openssl: a URI
  SAN wins over a DNS SAN, a DNS SAN is used when there is no URI SAN, the
  subject CN when there is no SAN; the certificate wins over a bearer token;
- on plaintext (a second registryd), from bearer tokens: a valid one, an
  unknown one (UNAUTHENTICATED), none (anonymous: only `anonymous: true`
  rules apply, else UNAUTHENTICATED).

Against both (one policy, POLICY below): every RPC of the native and the
seed API, Watch, KeepAlive and ADS, each allowed and refused (read, register,
admin), and each refusal changes nothing (Discover shows what was there
before); lease ownership across identities (native, seed, KeepAlive, a bound
KeepAlive stream; admin may); seed moves across services. Then, each on a
registryd of its own: a caller that may read nothing cannot list; SIGHUP
reloads of the policy and token files (a broken file keeps the old ones, and
says where it is broken); owners kept across a restart from the data dir;
registryd without a policy (everything allowed, as its start says). Health
and reflection stay open.

Note that `anonymous: true` rules grant every caller, so under POLICY every
identity may read catalog*.

Usage (needs Debian's python3-grpcio and python3-protobuf, i.e. /usr/bin/python3,
and openssl):

  /usr/bin/python3 tests/interop/authz_test.py \\
      --registryd build/src/registryd --protos protos \\
      --protoc /usr/bin/protoc --grpc-python-plugin /usr/bin/grpc_python_plugin [-v]

Any further arguments go to unittest (e.g. -k PATTERN).
"""

import argparse
import hashlib
import http.client
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import unittest

import grpc

import stubs
from certificates import Authority
from registry_process import TIMEOUT, Registry, wait_for

# Set by main() from the command line.
ARGS = None

# Every RPC and stream gets a deadline: a hung server fails the test instead of hanging it.
RPC_TIMEOUT_S = 10
STREAM_TIMEOUT_S = TIMEOUT
EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
LDS = "type.googleapis.com/envoy.config.listener.v3.Listener"
CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]

# The generated modules (registry_pb2, discovery_pb2, ...), filled by setUpModule.
pb = None
_gen_dir = None

# The identities of the test, as certificates and tokens carry them.
ORDERS = "spiffe://shop/sa/orders"  # its certificate also has DNS and CN names the policy makes admin
BILLING = "spiffe://shop/sa/billing"
OPS = "ops.shop.internal"           # a DNS SAN (its certificate's CN is "ops-cn")
READER = "reader-cn"                # a subject CN (its certificate has no SAN)
DEPLOYER = "spiffe://deploy/ci"
ANONYMOUS = None                    # no certificate identity and no token
IDENTITIES = (ORDERS, BILLING, OPS, READER, DEPLOYER)

POLICY = """\
# authz_test's policy: what each identity may do where.
rule { identity: "spiffe://shop/sa/orders" service: "orders*" permission: REGISTER }
rule { identity: "spiffe://shop/sa/billing" service: "billing*" permission: REGISTER }
rule { identity: "spiffe://shop/sa/*" service: "shared*" permission: REGISTER }
rule { identity: "spiffe://shop/*" service: "*" permission: READ }
rule { identity: "ops.shop.internal" service: "*" permission: [ADMIN, READ] }
rule { identity: "reader-cn" service: "catalog*" permission: READ }
rule { identity: "spiffe://deploy/ci" service: "*" permission: REGISTER }
rule { identity: "spiffe://deploy/ci" service: "catalog*" permission: ADMIN }
rule { identity: "*" service: "lobby*" permission: REGISTER }
rule { anonymous: true service: "catalog*" permission: READ }
rule { anonymous: true service: "public*" permission: REGISTER }
# The orders certificate's DNS SAN and CN: its URI SAN wins, so this never applies to it.
rule { identity: ["orders.shop.internal", "orders-cn"] service: "*" permission: ADMIN }
"""

# Each identity's bearer token (the token file holds their SHA-256 only).
TOKENS = {ORDERS: "tok-orders-5d1f", BILLING: "tok-billing-82a0", OPS: "tok-ops-c3e9", READER: "tok-reader-17b4",
          DEPLOYER: "tok-deployer-9e62"}
UNKNOWN_TOKEN = "tok-nobody-0000"


def sha256(token):
    return hashlib.sha256(token.encode()).hexdigest()


def token_file(tokens):
    """The text of a token file: {token: identity}."""
    return "".join('token { sha256: "%s" identity: "%s" }\n' % (sha256(token), identity)
                   for token, identity in tokens.items())


def write_file(path, text):
    """Replaces the file at once: a reload never reads half of it."""
    with open(path + ".new", "w") as file:
        file.write(text)
    os.replace(path + ".new", path)


def setUpModule():
    global pb, _gen_dir
    _gen_dir = tempfile.TemporaryDirectory(prefix="authz_test_")
    pb = stubs.generate(ARGS.protos, ARGS.protoc, ARGS.grpc_python_plugin, _gen_dir.name,
                        stubs.SEED_AND_NATIVE + ("envoy/core.proto", "envoy/rpc_status.proto",
                                                 "envoy/endpoint.proto", "envoy/discovery.proto"))


def tearDownModule():
    if _gen_dir is not None:
        _gen_dir.cleanup()


def code_of(number):
    return next(code for code in grpc.StatusCode if code.value[0] == number)


class Stream:
    """A bidirectional stream fed from a queue: send() one request, receive()
    the next response (raises the stream's end as a grpc.RpcError)."""

    _END = object()

    def __init__(self, method, metadata):
        self._requests = queue.Queue()
        self._call = method(iter(self._requests.get, Stream._END), timeout=STREAM_TIMEOUT_S, metadata=metadata)

    def send(self, request):
        self._requests.put(request)

    def receive(self):
        return next(self._call)

    def receive_after(self, request):
        self.send(request)
        return self.receive()

    def close(self):
        self._requests.put(Stream._END)
        self._call.cancel()


class Client:
    """One caller: the stubs of every API on its channel, and the bearer
    token each of its calls carries (if any)."""

    def __init__(self, channel, token=None):
        self.channel = channel
        self.metadata = (("authorization", "Bearer " + token),) if token else None
        self.native = pb.registry_pb2_grpc.RegistryStub(channel)
        self.seed_registry = pb.registry_service_pb2_grpc.RegistryServiceStub(channel)
        self.seed_discovery = pb.discovery_service_pb2_grpc.DiscoveryServiceStub(channel)
        self.xds = pb.discovery_pb2_grpc.AggregatedDiscoveryServiceStub(channel)

    def _options(self):
        return dict(timeout=RPC_TIMEOUT_S, metadata=self.metadata)

    # --- native API ---
    def register(self, service, instance_id, address, overloaded=False):
        return self.native.Register(pb.registry_pb2.RegisterRequest(
            service=service, instance_id=instance_id, address=address, overloaded=overloaded), **self._options())

    def heartbeat(self, lease_id, overloaded=False):
        return self.native.Heartbeat(pb.registry_pb2.HeartbeatRequest(lease_id=lease_id, overloaded=overloaded),
                                     **self._options())

    def deregister(self, lease_id):
        return self.native.Deregister(pb.registry_pb2.DeregisterRequest(lease_id=lease_id), **self._options())

    def discover(self, service):
        return self.native.Discover(pb.registry_pb2.DiscoverRequest(service=service), **self._options())

    def list_services(self):
        reply = self.native.ListServices(pb.registry_pb2.ListServicesRequest(), **self._options())
        return {summary.name: summary.instances for summary in reply.services}

    def watch_first(self, service):
        """The first response of a Watch of `service` ("": every service)."""
        call = self.native.Watch(pb.registry_pb2.WatchRequest(service=service), timeout=STREAM_TIMEOUT_S,
                                 metadata=self.metadata)
        try:
            return next(call)
        finally:
            call.cancel()

    def watch(self, service):
        return self.native.Watch(pb.registry_pb2.WatchRequest(service=service), timeout=STREAM_TIMEOUT_S,
                                 metadata=self.metadata)

    def keep_alive(self):
        return Stream(self.native.KeepAlive, self.metadata)

    def session(self):
        return Stream(self.native.Session, self.metadata)

    # --- seed API ---
    def seed_register(self, server_id, service, port, ip="10.9.0.1", overloaded=False):
        return self.seed_registry.discovery(pb.registry_service_pb2.RecordRequest(
            serverId=server_id, serverIp=ip, serverPort=port, overloaded=overloaded, service=service),
            **self._options())

    def seed_heartbeat(self, server_id, overloaded=False):
        return self.seed_registry.heartBeat(pb.registry_service_pb2.RenewRequest(
            serverId=server_id, overloaded=overloaded), **self._options())

    def find(self, service):
        return self.seed_discovery.findServer(pb.discovery_service_pb2.QueryRequest(service=service),
                                              **self._options())

    def warn(self, server_id):
        return self.seed_discovery.warnServerError(pb.discovery_service_pb2.ServerError(serverId=server_id),
                                                   **self._options())

    # --- xDS ---
    def ads(self):
        return Stream(self.xds.StreamAggregatedResources, self.metadata)

    # --- open services ---
    def health(self):
        """grpc.health.v1.Health/Check of the server (""): the status number."""
        check = self.channel.unary_unary("/grpc.health.v1.Health/Check")
        reply = check(b"", **self._options())  # HealthCheckRequest{service: ""}
        return reply[1] if reply[:1] == b"\x08" else 0  # HealthCheckResponse{status (field 1, varint)}

    def reflection_list(self):
        """grpc.reflection.v1alpha.ServerReflection: list_services, the raw reply."""
        info = self.channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
        call = info(iter([b"\x3a\x00"]), **self._options())  # ServerReflectionRequest{list_services: ""}
        try:
            return next(call)
        finally:
            call.cancel()


def ads_request(names, type_url=EDS, reply=None):
    request = pb.discovery_pb2.DiscoveryRequest(type_url=type_url, resource_names=names)
    request.node.id = "authz-test"
    if reply is not None:  # an ACK of `reply` (and the subscription it names)
        request.version_info = reply.version_info
        request.response_nonce = reply.nonce
    return request


def ads_endpoints(reply):
    """{service: {"ip:port", ...}} of an EDS DiscoveryResponse."""
    found = {}
    for resource in reply.resources:
        assignment = pb.endpoint_pb2.ClusterLoadAssignment()
        assert resource.Unpack(assignment), resource.type_url
        addresses = found.setdefault(assignment.cluster_name, set())
        for locality in assignment.endpoints:
            for endpoint in locality.lb_endpoints:
                socket = endpoint.endpoint.address.socket_address
                addresses.add("%s:%d" % (socket.address, socket.port_value))
    return found


class AuthzCase(unittest.TestCase):
    """Assertions shared by the tests."""

    def assertRefusal(self, code, details, identity, action, service):
        """A refusal as registryd words it: PERMISSION_DENIED naming the
        identity (in quotes), the action and the service, or UNAUTHENTICATED
        for a caller without an identity. `action` may be a tuple (any of
        them); `service` None: not checked."""
        details = details or ""
        if identity is ANONYMOUS:
            self.assertEqual(code, grpc.StatusCode.UNAUTHENTICATED, details)
            self.assertIn("a caller without an identity", details)
        else:
            self.assertEqual(code, grpc.StatusCode.PERMISSION_DENIED, details)
            self.assertIn('"%s"' % identity, details)
        actions = (action,) if isinstance(action, str) else action
        self.assertTrue(any(verb in details for verb in actions), "want one of %r in %r" % (actions, details))
        if service is not None:
            self.assertIn('service "%s"' % service, details)

    def assertRefused(self, identity, action, service, call, *args, **kwargs):
        """call(*args) fails with the refusal of `identity` to `action` `service`."""
        with self.assertRaises(grpc.RpcError) as raised:
            call(*args, **kwargs)
        self.assertRefusal(raised.exception.code(), raised.exception.details(), identity, action, service)
        return raised.exception

    def assertCode(self, code, call, *args, **kwargs):
        with self.assertRaises(grpc.RpcError) as raised:
            call(*args, **kwargs)
        self.assertEqual(raised.exception.code(), code, raised.exception.details())
        return raised.exception

    def assertLeaseRefused(self, response, lease_id, identity, action, service):
        """A KeepAlive response that refuses `lease_id` (the stream goes on)."""
        self.assertEqual(response.lease_id, lease_id)
        self.assertRefusal(code_of(response.code), response.message, identity, action, service)

    def assertLeaseRenewed(self, response, lease_id):
        self.assertEqual((response.lease_id, response.code), (lease_id, 0), response.message)
        self.assertGreater(response.ttl_ms, 0)


class AuthzMatrix:
    """What both transports must do alike (a mixin: unittest runs it in each
    subclass only). Each subclass starts its registryd (in `directory`,
    with its `channels`, closed here) and fills `clients` ({identity: Client})."""

    registry = None
    clients = None

    @classmethod
    def tearDownClass(cls):
        try:
            for channel in cls.channels:
                channel.close()
            cls.registry.stop()
        finally:
            cls.registry.kill()
            cls.directory.cleanup()

    def c(self, identity):
        return self.clients[identity]

    def state(self, service):
        """What Discover (by ops, who may read everything) shows of `service`:
        its revision and {instance_id: (address, overloaded)}."""
        reply = self.c(OPS).discover(service)
        return reply.revision, {i.instance_id: (i.address, i.overloaded) for i in reply.instances}

    def instances(self, service):
        return self.state(service)[1]

    def assertUnchanged(self, service, before):
        self.assertEqual(self.state(service), before, "a refused call changed service %r" % service)

    # --- the native API ---------------------------------------------------------------

    def test_register_needs_register_on_the_service(self):
        lease = self.c(ORDERS).register("orders-reg", "o-1", "10.1.0.1:80")
        self.assertGreater(lease.ttl_ms, 0)
        self.c(OPS).register("orders-reg", "ops-1", "10.1.0.2:80")  # admin implies register
        before = self.state("orders-reg")
        self.assertEqual(before[1], {"o-1": ("10.1.0.1:80", False), "ops-1": ("10.1.0.2:80", False)})
        self.assertRefused(READER, "register in", "orders-reg", self.c(READER).register, "orders-reg", "r-1",
                           "10.1.0.3:80")
        self.assertRefused(BILLING, "register in", "orders-reg", self.c(BILLING).register, "orders-reg", "b-1",
                           "10.1.0.4:80")
        self.assertUnchanged("orders-reg", before)

    def test_heartbeat_needs_register_on_the_service(self):
        lease = self.c(ORDERS).register("orders-hb", "o-1", "10.1.1.1:80").lease_id
        self.assertGreater(self.c(ORDERS).heartbeat(lease, overloaded=True).ttl_ms, 0)
        before = self.state("orders-hb")
        self.assertEqual(before[1], {"o-1": ("10.1.1.1:80", True)})
        self.assertRefused(READER, "renew a lease in", "orders-hb", self.c(READER).heartbeat, lease,
                           overloaded=False)
        self.assertUnchanged("orders-hb", before)

    def test_deregister_needs_register_on_the_service(self):
        first = self.c(ORDERS).register("orders-dereg", "o-1", "10.1.2.1:80").lease_id
        self.c(ORDERS).register("orders-dereg", "o-2", "10.1.2.2:80")
        before = self.state("orders-dereg")
        self.assertRefused(READER, "deregister from", "orders-dereg", self.c(READER).deregister, first)
        self.assertRefused(BILLING, "deregister from", "orders-dereg",
                           self.c(BILLING).deregister, first)
        self.assertUnchanged("orders-dereg", before)
        self.c(ORDERS).deregister(first)
        self.assertEqual(self.instances("orders-dereg"), {"o-2": ("10.1.2.2:80", False)})

    def test_discover_needs_read_on_the_service(self):
        self.c(DEPLOYER).register("catalog-disc", "c-1", "10.1.3.1:80")
        self.c(DEPLOYER).register("orders-disc", "o-1", "10.1.3.2:80")
        self.assertEqual([i.instance_id for i in self.c(READER).discover("catalog-disc").instances], ["c-1"])
        self.assertEqual([i.instance_id for i in self.c(ORDERS).discover("orders-disc").instances], ["o-1"])
        self.assertRefused(READER, "read", "orders-disc", self.c(READER).discover, "orders-disc")
        # Register everywhere is not read (deployer reads only catalog*, as every caller does by the anonymous rule).
        self.assertRefused(DEPLOYER, "read", "orders-disc", self.c(DEPLOYER).discover, "orders-disc")

    def test_list_services_shows_the_readable_ones(self):
        self.c(DEPLOYER).register("catalog-list", "c-1", "10.1.4.1:80")
        self.c(DEPLOYER).register("orders-list", "o-1", "10.1.4.2:80")
        listed = self.c(READER).list_services()
        self.assertEqual(listed.get("catalog-list"), 1, listed)
        self.assertNotIn("orders-list", listed)
        self.assertTrue(all(name.startswith("catalog") for name in listed), listed)
        everything = self.c(OPS).list_services()
        self.assertEqual((everything.get("catalog-list"), everything.get("orders-list")), (1, 1), everything)
        # (A caller that may read nothing is refused: OwnPolicyTest, whose policy has no anonymous rule.)

    def test_watch_needs_read_on_the_service_and_on_all_for_all(self):
        self.c(DEPLOYER).register("catalog-watch", "c-1", "10.1.5.1:80")
        self.c(DEPLOYER).register("orders-watch", "o-1", "10.1.5.2:80")
        watch = self.c(READER).watch("catalog-watch")
        self.addCleanup(watch.cancel)
        first = next(watch)
        self.assertTrue(first.snapshot)
        self.assertEqual([e.instance.instance_id for e in first.events], ["c-1"])
        # The allowed stream goes on: it sees the next change.
        self.c(DEPLOYER).register("catalog-watch", "c-2", "10.1.5.3:80")
        seen = []
        while "c-2" not in seen:
            seen += [e.instance.instance_id for e in next(watch).events]
        self.assertRefused(READER, "read", "orders-watch", self.c(READER).watch_first, "orders-watch")
        self.assertRefused(DEPLOYER, "read", "orders-watch", self.c(DEPLOYER).watch_first, "orders-watch")
        # Every service: read on "*" (orders has it through spiffe://shop/*; reader only on catalog*).
        self.assertRefused(READER, "read", "*", self.c(READER).watch_first, "")
        everything = self.c(ORDERS).watch_first("")
        self.assertTrue(everything.snapshot)
        self.assertTrue({"c-1", "o-1"} <= {e.instance.instance_id for e in everything.events})

    def test_keep_alive_refuses_a_lease_and_goes_on(self):
        orders_lease = self.c(ORDERS).register("orders-ka", "o-1", "10.1.6.1:80").lease_id
        lobby_lease = self.c(READER).register("lobby-ka", "r-1", "10.1.6.2:80").lease_id  # "*" may register lobby*
        before = self.state("orders-ka")
        stream = self.c(READER).keep_alive()
        self.addCleanup(stream.close)
        stream.send(pb.registry_pb2.KeepAliveRequest(lease_id=orders_lease, overloaded=True))
        self.assertLeaseRefused(stream.receive(), orders_lease, READER, "renew a lease in", "orders-ka")
        stream.send(pb.registry_pb2.KeepAliveRequest(lease_id=lobby_lease, overloaded=True))
        self.assertLeaseRenewed(stream.receive(), lobby_lease)
        self.assertUnchanged("orders-ka", before)
        self.assertEqual(self.instances("lobby-ka"), {"r-1": ("10.1.6.2:80", True)})
        own = self.c(ORDERS).keep_alive()
        self.addCleanup(own.close)
        own.send(pb.registry_pb2.KeepAliveRequest(lease_id=orders_lease, overloaded=True))
        self.assertLeaseRenewed(own.receive(), orders_lease)
        self.assertEqual(self.instances("orders-ka"), {"o-1": ("10.1.6.1:80", True)})

    def test_a_session_is_its_openers_and_checks_each_registration(self):
        stream = self.c(ORDERS).session()
        self.addCleanup(stream.close)
        stream.send(pb.registry_pb2.SessionRequest(open=pb.registry_pb2.OpenSession(ttl_ms=30000)))
        opened = stream.receive().opened
        others = self.c(BILLING).register("shared-sess", "s-1", "10.1.7.9:80").lease_id
        before = self.state("shared-sess")
        request = pb.registry_pb2.SessionRequest(request_id=2)
        for service, instance_id in (("orders-sess", "o-1"), ("billing-sess", "b-1"), ("shared-sess", "s-1")):
            request.register.instances.add(service=service, instance_id=instance_id, address="10.1.7.1:80")
        results = stream.receive_after(request).registered.results
        self.assertEqual(results[0].code, 0, results[0].message)
        # Each refusal is its instance's alone: one it may not register in,
        # one another identity owns (it stays that one's, on its own lease).
        self.assertRefusal(code_of(results[1].code), results[1].message, ORDERS, "register in", "billing-sess")
        self.assertRefusal(code_of(results[2].code), results[2].message, ORDERS, "register in", "shared-sess")
        self.assertUnchanged("shared-sess", before)
        self.assertGreater(self.c(BILLING).heartbeat(others).ttl_ms, 0)
        self.assertEqual(self.instances("orders-sess"), {"o-1": ("10.1.7.1:80", False)})
        # ListSessions: one's own, or every one for an admin of every service.
        def listed(identity):
            reply = self.c(identity).native.ListSessions(pb.registry_pb2.ListSessionsRequest(),
                                                         timeout=RPC_TIMEOUT_S, metadata=self.c(identity).metadata)
            return {info.session_id: info.owner for info in reply.sessions}
        self.assertEqual(listed(ORDERS).get(opened.session_id), ORDERS)
        self.assertNotIn(opened.session_id, listed(BILLING))
        self.assertEqual(listed(OPS).get(opened.session_id), ORDERS)
        # Its token in another identity's hands resumes nothing.
        thief = self.c(BILLING).session()
        self.addCleanup(thief.close)
        thief.send(pb.registry_pb2.SessionRequest(resume=pb.registry_pb2.ResumeSession(
            session_id=opened.session_id, token=opened.token)))
        with self.assertRaises(grpc.RpcError) as raised:
            thief.receive()
        self.assertEqual(raised.exception.code(), grpc.StatusCode.PERMISSION_DENIED, raised.exception.details())
        # The opener resumes it, on a new stream, with every instance.
        stream.close()
        again = self.c(ORDERS).session()
        self.addCleanup(again.close)
        again.send(pb.registry_pb2.SessionRequest(resume=pb.registry_pb2.ResumeSession(
            session_id=opened.session_id, token=opened.token)))
        resumed = again.receive().opened
        self.assertTrue(resumed.resumed)
        self.assertEqual(resumed.instances, 1)
        self.assertEqual(self.instances("orders-sess"), {"o-1": ("10.1.7.1:80", False)})

    # --- the seed API -----------------------------------------------------------------

    def test_seed_discovery_needs_register_on_the_service(self):
        self.assertTrue(self.c(ORDERS).seed_register(9101, "orders-seed", 7101).success)
        before = self.state("orders-seed")
        self.assertEqual(before[1], {"9101": ("10.9.0.1:7101", False)})
        self.assertRefused(READER, "register in", "orders-seed", self.c(READER).seed_register, 9102, "orders-seed",
                           7102)
        self.assertRefused(BILLING, "register in", "orders-seed", self.c(BILLING).seed_register, 9103,
                           "orders-seed", 7103)
        self.assertUnchanged("orders-seed", before)
        for refused in (9102, 9103):  # and they are nowhere else either
            self.assertCode(grpc.StatusCode.NOT_FOUND, self.c(OPS).seed_heartbeat, refused)

    def test_seed_heartbeat_needs_register_on_the_service(self):
        self.assertTrue(self.c(ORDERS).seed_register(9201, "orders-seedhb", 7201).success)
        self.assertTrue(self.c(ORDERS).seed_heartbeat(9201, overloaded=True).success)
        before = self.state("orders-seedhb")
        self.assertEqual(before[1], {"9201": ("10.9.0.1:7201", True)})
        self.assertRefused(READER, "renew a lease in", "orders-seedhb", self.c(READER).seed_heartbeat, 9201)
        self.assertUnchanged("orders-seedhb", before)

    def test_find_server_needs_read_on_the_service(self):
        self.c(DEPLOYER).seed_register(9301, "catalog-find", 7301)
        self.c(DEPLOYER).seed_register(9302, "orders-find", 7302)
        found = self.c(READER).find("catalog-find")
        self.assertEqual((found.querySuccess, found.serverId, found.serverPort), (True, 9301, 7301))
        self.assertRefused(READER, "read", "orders-find", self.c(READER).find, "orders-find")
        self.assertRefused(DEPLOYER, "read", "orders-find", self.c(DEPLOYER).find, "orders-find")

    def test_warn_server_error_needs_admin_on_the_service(self):
        self.c(DEPLOYER).seed_register(9401, "catalog-warn", 7401)
        self.c(DEPLOYER).seed_register(9402, "catalog-warn", 7402)
        self.c(ORDERS).seed_register(9403, "orders-warn", 7403)
        orders_before = self.state("orders-warn")
        # Admin on catalog* but not on orders*.
        self.assertRefused(DEPLOYER, "eject from", "orders-warn", self.c(DEPLOYER).warn, 9403)
        # Orders' certificate names an admin by its DNS SAN and CN; its URI SAN wins (over tokens: no admin).
        self.assertRefused(ORDERS, "eject from", None, self.c(ORDERS).warn, 9403)
        # Admin nowhere: refused before looking, so an unknown id is refused too.
        self.assertRefused(READER, "eject from", None, self.c(READER).warn, 9403)
        self.assertRefused(READER, "eject from", None, self.c(READER).warn, 999999)
        self.assertUnchanged("orders-warn", orders_before)
        self.assertTrue(self.c(OPS).find("orders-warn").querySuccess)
        unknown = self.c(DEPLOYER).warn(999999)  # admin somewhere: an unknown id is looked up
        self.assertFalse(unknown.querySuccess)
        other = self.c(DEPLOYER).warn(9401)
        self.assertEqual((other.querySuccess, other.serverId, other.serverPort), (True, 9402, 7402))
        self.assertEqual(set(self.instances("catalog-warn")), {"9402"})
        last = self.c(OPS).warn(9403)  # admin everywhere
        self.assertFalse(last.querySuccess)
        self.assertEqual(self.instances("orders-warn"), {})

    # --- xDS ------------------------------------------------------------------------

    def test_ads_needs_read_on_every_named_service(self):
        self.c(DEPLOYER).register("catalog-ads", "c-1", "10.1.8.1:81")
        self.c(DEPLOYER).register("orders-ads", "o-1", "10.1.8.2:82")
        stream = self.c(READER).ads()
        self.addCleanup(stream.close)
        stream.send(ads_request(["catalog-ads"]))
        reply = stream.receive()
        self.assertEqual(ads_endpoints(reply), {"catalog-ads": {"10.1.8.1:81"}})
        # Adding a service it may not read ends the stream.
        stream.send(ads_request(["catalog-ads", "orders-ads"], reply=reply))
        self.assertRefused(READER, "read", "orders-ads", stream.receive)
        for identity, names, type_url in [(READER, ["orders-ads"], EDS), (READER, ["orders-ads"], LDS),
                                          (DEPLOYER, ["orders-ads"], EDS)]:
            with self.subTest(identity=identity, names=names, type_url=type_url):
                refused = self.c(identity).ads()
                self.addCleanup(refused.close)
                refused.send(ads_request(names, type_url))
                self.assertRefused(identity, "read", names[0], refused.receive)
        allowed = self.c(ORDERS).ads()
        self.addCleanup(allowed.close)
        allowed.send(ads_request(["orders-ads", "catalog-ads"]))
        self.assertEqual(ads_endpoints(allowed.receive()),
                         {"orders-ads": {"10.1.8.2:82"}, "catalog-ads": {"10.1.8.1:81"}})

    # --- lease ownership ------------------------------------------------------------

    def test_native_leases_belong_to_their_registrant(self):
        lease = self.c(ORDERS).register("shared-ledger", "ledger-1", "10.2.0.1:80").lease_id
        before = self.state("shared-ledger")
        billing = self.c(BILLING)  # register on shared*, but not the owner
        self.assertRefused(BILLING, "renew a lease in", "shared-ledger", billing.heartbeat, lease, overloaded=True)
        self.assertRefused(BILLING, "deregister from", "shared-ledger", billing.deregister, lease)
        self.assertRefused(BILLING, "register in", "shared-ledger", billing.register, "shared-ledger", "ledger-1",
                           "10.2.0.66:80")
        stream = billing.keep_alive()
        self.addCleanup(stream.close)
        stream.send(pb.registry_pb2.KeepAliveRequest(lease_id=lease, overloaded=True))
        self.assertLeaseRefused(stream.receive(), lease, BILLING, "renew a lease in", "shared-ledger")
        self.assertUnchanged("shared-ledger", before)
        # Its owner may.
        self.assertGreater(self.c(ORDERS).heartbeat(lease).ttl_ms, 0)
        again = self.c(ORDERS).register("shared-ledger", "ledger-1", "10.2.0.2:80")
        self.assertEqual(again.lease_id, lease)
        self.assertEqual(self.instances("shared-ledger"), {"ledger-1": ("10.2.0.2:80", False)})
        # An admin of the service may too.
        ops = self.c(OPS)
        self.assertGreater(ops.heartbeat(lease, overloaded=True).ttl_ms, 0)
        self.assertEqual(self.instances("shared-ledger"), {"ledger-1": ("10.2.0.2:80", True)})
        admin_stream = ops.keep_alive()
        self.addCleanup(admin_stream.close)
        admin_stream.send(pb.registry_pb2.KeepAliveRequest(lease_id=lease, overloaded=False))
        self.assertLeaseRenewed(admin_stream.receive(), lease)
        self.assertEqual(ops.register("shared-ledger", "ledger-1", "10.2.0.3:80").lease_id, lease)
        self.assertEqual(self.instances("shared-ledger"), {"ledger-1": ("10.2.0.3:80", False)})
        ops.deregister(lease)
        self.assertEqual(self.instances("shared-ledger"), {})

    def test_a_refused_lease_is_not_bound_to_the_stream(self):
        orders_lease = self.c(ORDERS).register("shared-bound", "o-1", "10.2.3.1:80").lease_id
        billing_lease = self.c(BILLING).register("shared-bound", "b-1", "10.2.3.2:80").lease_id
        stream = self.c(BILLING).keep_alive()
        stream.send(pb.registry_pb2.KeepAliveRequest(lease_id=billing_lease, bind_to_stream=True))
        self.assertLeaseRenewed(stream.receive(), billing_lease)
        stream.send(pb.registry_pb2.KeepAliveRequest(lease_id=orders_lease))
        self.assertLeaseRefused(stream.receive(), orders_lease, BILLING, "renew a lease in", "shared-bound")
        # The stream ends: what it holds goes at once, and only that.
        stream.close()
        self.assertTrue(wait_for(lambda: "b-1" not in self.instances("shared-bound")), self.instances("shared-bound"))
        self.assertEqual(self.instances("shared-bound"), {"o-1": ("10.2.3.1:80", False)})

    def test_admin_of_one_service_only_overrides_ownership_there(self):
        catalog = self.c(OPS).register("catalog-own", "ops-1", "10.2.1.1:80").lease_id
        orders = self.c(OPS).register("orders-own", "ops-2", "10.2.1.2:80").lease_id
        before = self.state("orders-own")
        deployer = self.c(DEPLOYER)  # register everywhere, admin on catalog* only
        self.assertRefused(DEPLOYER, "renew a lease in", "orders-own", deployer.heartbeat, orders, overloaded=True)
        self.assertRefused(DEPLOYER, "deregister from", "orders-own", deployer.deregister, orders)
        self.assertUnchanged("orders-own", before)
        self.assertGreater(deployer.heartbeat(catalog, overloaded=True).ttl_ms, 0)
        self.assertEqual(self.instances("catalog-own"), {"ops-1": ("10.2.1.1:80", True)})
        deployer.deregister(catalog)
        self.assertEqual(self.instances("catalog-own"), {})

    def test_seed_servers_belong_to_their_registrant(self):
        self.assertTrue(self.c(ORDERS).seed_register(9501, "shared-seedown", 7501).success)
        before = self.state("shared-seedown")
        billing = self.c(BILLING)
        self.assertRefused(BILLING, "renew a lease in", "shared-seedown", billing.seed_heartbeat, 9501,
                           overloaded=True)
        self.assertRefused(BILLING, "register in", "shared-seedown", billing.seed_register, 9501, "shared-seedown",
                           7599)
        # The same server through the native API (its instance_id is its serverId).
        self.assertRefused(BILLING, "register in", "shared-seedown", billing.register, "shared-seedown", "9501",
                           "10.9.9.9:7599")
        self.assertUnchanged("shared-seedown", before)
        found = self.c(OPS).find("shared-seedown")
        self.assertEqual((found.serverId, found.serverPort), (9501, 7501))
        self.assertTrue(self.c(ORDERS).seed_heartbeat(9501).success)
        self.assertTrue(self.c(OPS).seed_heartbeat(9501, overloaded=True).success)  # admin
        self.assertEqual(self.instances("shared-seedown"), {"9501": ("10.9.0.1:7501", True)})
        self.assertTrue(self.c(OPS).seed_register(9501, "shared-seedown", 7502).success)
        self.assertEqual(self.instances("shared-seedown"), {"9501": ("10.9.0.1:7502", False)})

    # --- seed moves -----------------------------------------------------------------

    def test_seed_move_with_register_on_both_services(self):
        self.assertTrue(self.c(ORDERS).seed_register(9601, "shared-from", 7601).success)
        self.assertTrue(self.c(ORDERS).seed_register(9601, "shared-to", 7602).success)
        self.assertEqual(self.instances("shared-from"), {})
        self.assertEqual(self.instances("shared-to"), {"9601": ("10.9.0.1:7602", False)})
        self.assertFalse(self.c(OPS).find("shared-from").querySuccess)

    def test_seed_move_refused_without_register_on_the_new_service(self):
        self.assertTrue(self.c(ORDERS).seed_register(9602, "orders-from", 7603).success)
        before_from, before_to = self.state("orders-from"), self.state("billing-to")
        self.assertRefused(ORDERS, "register in", "billing-to", self.c(ORDERS).seed_register, 9602, "billing-to",
                           7604)
        self.assertUnchanged("orders-from", before_from)
        self.assertUnchanged("billing-to", before_to)
        found = self.c(OPS).find("orders-from")
        self.assertEqual((found.querySuccess, found.serverId, found.serverPort), (True, 9602, 7603))
        self.assertTrue(self.c(ORDERS).seed_heartbeat(9602).success)  # still its own, still there

    def test_seed_move_refused_out_of_another_identitys_instance(self):
        self.assertTrue(self.c(BILLING).seed_register(9603, "shared-owned", 7605).success)
        before_from, before_to = self.state("shared-owned"), self.state("shared-elsewhere")
        # Register on both services, but the instance is billing's.
        self.assertRefused(ORDERS, ("deregister from", "register in"), "shared-owned", self.c(ORDERS).seed_register,
                           9603, "shared-elsewhere", 7606)
        self.assertUnchanged("shared-owned", before_from)
        self.assertUnchanged("shared-elsewhere", before_to)
        self.assertTrue(self.c(BILLING).seed_heartbeat(9603).success)
        # An admin of both may move it.
        self.assertTrue(self.c(OPS).seed_register(9603, "orders-moved", 7607).success)
        self.assertEqual(self.instances("shared-owned"), {})
        self.assertEqual(self.instances("orders-moved"), {"9603": ("10.9.0.1:7607", False)})

    def test_native_move_of_a_seed_id_refused_out_of_another_identitys_instance(self):
        self.c(ORDERS).register("orders-nat", "9604", "10.2.2.1:80")
        before_from, before_to = self.state("orders-nat"), self.state("billing-nat")
        # Registering id 9604 under billing-nat moves it out of orders-nat: billing may not.
        self.assertRefused(BILLING, ("deregister from", "register in"), "orders-nat", self.c(BILLING).register,
                           "billing-nat", "9604", "10.2.2.2:80")
        self.assertUnchanged("orders-nat", before_from)
        self.assertUnchanged("billing-nat", before_to)


class MutualTlsTest(AuthzMatrix, AuthzCase):
    """Identities from client certificates, on a registryd under mutual TLS."""

    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.TemporaryDirectory(prefix="authz_mtls_")
        ca = Authority(cls.directory.name, "authz-ca")
        cls.ca_cert = ca.cert
        server_cert, server_key = ca.issue("registryd", "IP:127.0.0.1,DNS:localhost")
        cls.certificates = {
            # The DNS SAN first: the URI SAN still wins.
            ORDERS: ca.issue("orders", "DNS:orders.shop.internal,URI:spiffe://shop/sa/orders", cn="orders-cn"),
            BILLING: ca.issue("billing", "URI:spiffe://shop/sa/billing"),
            OPS: ca.issue("ops", "DNS:ops.shop.internal,DNS:other.shop.internal", cn="ops-cn"),
            READER: ca.issue("reader", None, cn="reader-cn"),
            DEPLOYER: ca.issue("deployer", "URI:spiffe://deploy/ci"),
        }
        cls.policy = os.path.join(cls.directory.name, "policy.txt")
        write_file(cls.policy, POLICY)
        cls.tokens = os.path.join(cls.directory.name, "tokens.txt")
        write_file(cls.tokens, token_file({token: identity for identity, token in TOKENS.items()}))
        cls.registry = Registry(ARGS.registryd, extra=[
            "--tls-cert", server_cert, "--tls-key", server_key, "--tls-client-ca", ca.cert,
            "--authz-policy", cls.policy, "--auth-tokens", cls.tokens])
        cls.channels = []
        cls.clients = {identity: cls.client(identity) for identity in IDENTITIES}

    @classmethod
    def channel(cls, identity):
        cert, key = cls.certificates[identity]
        with open(cls.ca_cert, "rb") as ca, open(cert, "rb") as chain, open(key, "rb") as private:
            credentials = grpc.ssl_channel_credentials(ca.read(), private.read(), chain.read())
        channel = grpc.secure_channel(cls.registry.address, credentials, options=CHANNEL_OPTIONS)
        cls.channels.append(channel)
        return channel

    @classmethod
    def client(cls, identity, token=None):
        return Client(cls.channel(identity), token)

    def test_start_names_the_policy_and_the_tokens(self):
        line = wait_for(lambda: re.search(r"authorization: policy .*", self.registry.stderr_text()))
        self.assertTrue(line, self.registry.stderr_text())
        self.assertIn(self.policy, line.group(0))
        self.assertIn(self.tokens, line.group(0))

    def test_identity_from_the_certificate(self):
        # Each identity as a refusal names it (admin nowhere: warnServerError is refused).
        for identity in (ORDERS, BILLING, READER):
            with self.subTest(identity=identity):
                error = self.assertRefused(identity, "eject from", None, self.c(identity).warn, 999999)
                for other in ("orders.shop.internal", "orders-cn"):
                    self.assertNotIn(other, error.details())
        # Ops' DNS SAN (the first one) is admin everywhere; its CN "ops-cn" is nothing.
        self.assertFalse(self.c(OPS).warn(999999).querySuccess)

    def test_the_certificate_wins_over_a_token(self):
        reader_as_ops = self.client(READER, TOKENS[OPS])
        self.c(DEPLOYER).register("orders-certwins", "o-1", "10.3.0.1:80")
        self.assertRefused(READER, "read", "orders-certwins", reader_as_ops.discover, "orders-certwins")
        self.assertRefused(READER, "register in", "orders-certwins", reader_as_ops.register, "orders-certwins",
                           "r-1", "10.3.0.2:80")
        # An unknown token beside a certificate is not looked at.
        reader_unknown = self.client(READER, UNKNOWN_TOKEN)
        self.assertEqual(list(reader_unknown.discover("catalog-certwins").instances), [])
        self.assertEqual(set(self.instances("orders-certwins")), {"o-1"})


class BearerTokenTest(AuthzMatrix, AuthzCase):
    """Identities from bearer tokens, on a plaintext registryd."""

    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.TemporaryDirectory(prefix="authz_tokens_")
        cls.policy = os.path.join(cls.directory.name, "policy.txt")
        write_file(cls.policy, POLICY)
        cls.tokens = os.path.join(cls.directory.name, "tokens.txt")
        write_file(cls.tokens, token_file({token: identity for identity, token in TOKENS.items()}))
        cls.registry = Registry(ARGS.registryd, extra=["--authz-policy", cls.policy, "--auth-tokens", cls.tokens])
        cls.channels = []
        cls.clients = {identity: cls.client(TOKENS[identity]) for identity in IDENTITIES}
        cls.clients[ANONYMOUS] = cls.client(None)

    @classmethod
    def client(cls, token):
        channel = grpc.insecure_channel(cls.registry.address, options=CHANNEL_OPTIONS)
        cls.channels.append(channel)
        return Client(channel, token)

    def test_an_unknown_token_is_unauthenticated(self):
        unknown = self.client(UNKNOWN_TOKEN)
        self.c(DEPLOYER).register("catalog-unknown", "c-1", "10.4.0.1:80")
        lease = self.c(ORDERS).register("public-unknown", "o-1", "10.4.0.2:80").lease_id
        before = self.state("public-unknown")
        unauthenticated = grpc.StatusCode.UNAUTHENTICATED
        # Not anonymous: anonymous callers may read catalog* and register in public*.
        for call, args in [(unknown.discover, ("catalog-unknown",)), (unknown.find, ("catalog-unknown",)),
                           (unknown.list_services, ()), (unknown.register, ("public-unknown", "u-1", "10.4.0.3:80")),
                           (unknown.heartbeat, (lease, True)), (unknown.deregister, (lease,)),
                           (unknown.seed_register, (9701, "public-unknown", 7701)),
                           (unknown.seed_heartbeat, (9701,)), (unknown.warn, (9701,)),
                           (unknown.watch_first, ("catalog-unknown",))]:
            with self.subTest(call=call.__name__):
                error = self.assertCode(unauthenticated, call, *args)
                self.assertIn("token", error.details())
        keep_alive = unknown.keep_alive()
        self.addCleanup(keep_alive.close)
        keep_alive.send(pb.registry_pb2.KeepAliveRequest(lease_id=lease, overloaded=True))
        self.assertCode(unauthenticated, keep_alive.receive)
        ads = unknown.ads()
        self.addCleanup(ads.close)
        ads.send(ads_request(["catalog-unknown"]))
        self.assertCode(unauthenticated, ads.receive)
        self.assertUnchanged("public-unknown", before)

    def test_registryctl_sends_the_token_of_its_token_file(self):
        if not ARGS.registryctl:
            self.skipTest("no --registryctl")
        def ctl(token, *args):
            path = os.path.join(self.directory.name, "ctl.token")
            write_file(path, token + "\n")  # a trailing newline, as editors write it
            return subprocess.run([ARGS.registryctl, "--target", self.registry.address, "--token-file", path, *args],
                                  capture_output=True, text=True, timeout=TIMEOUT)
        register = ["register", "--service", "catalog-ctl", "--instance-id", "c-1", "--address", "10.4.2.1:80"]
        done = ctl(TOKENS[DEPLOYER], *register)
        self.assertEqual(done.returncode, 0, done.stderr)
        found = ctl(TOKENS[READER], "discover", "catalog-ctl")
        self.assertEqual(found.returncode, 0, found.stderr)
        self.assertIn("c-1", found.stdout)
        refused = ctl(TOKENS[READER], *register)
        self.assertEqual(refused.returncode, 1)
        self.assertIn("PERMISSION_DENIED", refused.stderr)
        self.assertIn('"%s"' % READER, refused.stderr)
        unknown = ctl(UNKNOWN_TOKEN, "discover", "catalog-ctl")
        self.assertEqual(unknown.returncode, 1)
        self.assertIn("UNAUTHENTICATED", unknown.stderr)
        empty = ctl("", "discover", "catalog-ctl")
        self.assertEqual(empty.returncode, 2)
        self.assertIn("is empty", empty.stderr)

    def test_no_token_is_anonymous(self):
        anonymous = self.c(ANONYMOUS)
        self.c(DEPLOYER).register("catalog-anon", "c-1", "10.4.1.1:80")
        self.c(DEPLOYER).seed_register(9801, "catalog-anon", 7801)
        lease = self.c(ORDERS).register("orders-anon", "o-1", "10.4.1.2:80").lease_id
        before = self.state("orders-anon")
        # What the anonymous rules grant.
        self.assertEqual({i.instance_id for i in anonymous.discover("catalog-anon").instances}, {"c-1", "9801"})
        self.assertEqual(anonymous.find("catalog-anon").serverId, 9801)
        self.assertTrue(anonymous.watch_first("catalog-anon").snapshot)
        self.assertTrue(all(name.startswith("catalog") for name in anonymous.list_services()))
        ads = anonymous.ads()
        self.addCleanup(ads.close)
        ads.send(ads_request(["catalog-anon"]))
        self.assertEqual(ads_endpoints(ads.receive())["catalog-anon"], {"10.4.1.1:80", "10.9.0.1:7801"})
        # Nothing else: UNAUTHENTICATED.
        self.assertRefused(ANONYMOUS, "read", "orders-anon", anonymous.discover, "orders-anon")
        self.assertRefused(ANONYMOUS, "read", "orders-anon", anonymous.find, "orders-anon")
        self.assertRefused(ANONYMOUS, "read", "orders-anon", anonymous.watch_first, "orders-anon")
        self.assertRefused(ANONYMOUS, "read", "*", anonymous.watch_first, "")
        self.assertRefused(ANONYMOUS, "register in", "orders-anon", anonymous.register, "orders-anon", "a-1",
                           "10.4.1.3:80")
        self.assertRefused(ANONYMOUS, "register in", "orders-anon", anonymous.seed_register, 9802, "orders-anon",
                           7802)
        self.assertRefused(ANONYMOUS, "renew a lease in", "orders-anon", anonymous.heartbeat, lease, True)
        self.assertRefused(ANONYMOUS, "deregister from", "orders-anon", anonymous.deregister, lease)
        self.assertRefused(ANONYMOUS, "eject from", None, anonymous.warn, 9801)
        # identity "*" is every identity, never the anonymous one.
        self.assertRefused(ANONYMOUS, "register in", "lobby-anon", anonymous.register, "lobby-anon", "a-1",
                           "10.4.1.4:80")
        self.c(READER).register("lobby-anon", "r-1", "10.4.1.5:80")
        keep_alive = anonymous.keep_alive()
        self.addCleanup(keep_alive.close)
        keep_alive.send(pb.registry_pb2.KeepAliveRequest(lease_id=lease, overloaded=True))
        self.assertLeaseRefused(keep_alive.receive(), lease, ANONYMOUS, "renew a lease in", "orders-anon")
        refused_ads = anonymous.ads()
        self.addCleanup(refused_ads.close)
        refused_ads.send(ads_request(["orders-anon"]))
        self.assertRefused(ANONYMOUS, "read", "orders-anon", refused_ads.receive)
        self.assertUnchanged("orders-anon", before)
        self.assertEqual(self.instances("lobby-anon"), {"r-1": ("10.4.1.5:80", False)})

    def test_an_instance_registered_anonymously_is_anyones_with_register(self):
        lease = self.c(ANONYMOUS).register("public-board", "p-1", "10.4.2.1:80").lease_id
        self.assertGreater(self.c(ORDERS).heartbeat(lease, overloaded=True).ttl_ms, 0)
        self.assertEqual(self.instances("public-board"), {"p-1": ("10.4.2.1:80", True)})
        self.c(BILLING).deregister(lease)
        self.assertEqual(self.instances("public-board"), {})

    def test_health_and_reflection_are_open(self):
        for client in (self.c(ANONYMOUS), self.client(UNKNOWN_TOKEN), self.c(DEPLOYER)):
            self.assertEqual(client.health(), 1)  # SERVING
            self.assertIn(b"registry.v1.Registry", client.reflection_list())

    def test_one_connection_many_tokens(self):
        # All of this class's clients share a target: gRPC may give them one
        # connection, and the identity still follows each call's token.
        shared = grpc.insecure_channel(self.registry.address, options=CHANNEL_OPTIONS)
        self.addCleanup(shared.close)
        reader, orders, anonymous = Client(shared, TOKENS[READER]), Client(shared, TOKENS[ORDERS]), Client(shared)
        orders.register("orders-conn", "o-1", "10.4.3.1:80")
        for _ in range(3):
            self.assertEqual(len(orders.discover("orders-conn").instances), 1)
            self.assertRefused(READER, "read", "orders-conn", reader.discover, "orders-conn")
            self.assertRefused(ANONYMOUS, "read", "orders-conn", anonymous.discover, "orders-conn")


class HttpFaceTest(AuthzCase):
    """The HTTP face under the same policy: bearer tokens, 401 without an
    identity where anonymous callers may not read, 403 naming the identity,
    listings filtered to what the caller may read; probes and /metrics open,
    and /metrics counts the refusals by the permission they lacked."""

    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.TemporaryDirectory(prefix="authz_http_")
        cls.policy = os.path.join(cls.directory.name, "policy.txt")
        write_file(cls.policy, POLICY)
        cls.tokens = os.path.join(cls.directory.name, "tokens.txt")
        write_file(cls.tokens, token_file({token: identity for identity, token in TOKENS.items()}))
        cls.registry = Registry(ARGS.registryd, extra=["--authz-policy", cls.policy, "--auth-tokens", cls.tokens,
                                                       "--http-listen", "127.0.0.1:0"])
        found = re.search(r"HTTP face on http://(\S+)", cls.registry.stderr_text())
        cls.http = found.group(1)
        cls.channel = grpc.insecure_channel(cls.registry.address, options=CHANNEL_OPTIONS)
        deployer = Client(cls.channel, TOKENS[DEPLOYER])
        deployer.register("orders-http", "o-1", "10.7.0.1:80")
        deployer.register("catalog-http", "c-1", "10.7.0.2:80")

    @classmethod
    def tearDownClass(cls):
        try:
            cls.channel.close()
            cls.registry.stop()
        finally:
            cls.registry.kill()
            cls.directory.cleanup()

    def get(self, path, token=None):
        connection = http.client.HTTPConnection(self.http, timeout=RPC_TIMEOUT_S)
        try:
            connection.request("GET", path, headers={"Authorization": "Bearer " + token} if token else {})
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    def refusals(self):
        _, text = self.get("/metrics")
        return {m.group(1): int(m.group(2))
                for m in re.finditer(r'registryd_auth_refusals_total\{permission="(\w+)"\} (\d+)', text)}

    def unknown_tokens(self):
        _, text = self.get("/metrics")
        return int(re.search(r"registryd_auth_unknown_tokens_total (\d+)", text).group(1))

    def test_reads_need_read_on_the_service(self):
        before = self.refusals()
        before_unknown = self.unknown_tokens()
        status, body = self.get("/v1/services/orders-http", TOKENS[ORDERS])
        self.assertEqual(status, 200)
        self.assertIn("10.7.0.1:80", body)
        status, body = self.get("/v1/services/orders-http", TOKENS[READER])
        self.assertEqual(status, 403)
        self.assertIn('identity "reader-cn" may not read service "orders-http"', json.loads(body)["error"]["message"])
        status, body = self.get("/v1/dashboard/instances?service=orders-http", TOKENS[READER])
        self.assertEqual(status, 403)
        status, body = self.get("/v1/prometheus/targets?service=orders-http", TOKENS[READER])
        self.assertEqual(status, 403)
        # Anonymous callers may read catalog* only.
        self.assertEqual(self.get("/v1/services/catalog-http")[0], 200)
        status, body = self.get("/v1/services/orders-http")
        self.assertEqual(status, 401)
        self.assertIn("a caller without an identity", body)
        self.assertEqual(self.get("/v1/services/orders-http", UNKNOWN_TOKEN)[0], 401)
        after = self.refusals()
        self.assertEqual(after["read"], before["read"] + 4)
        self.assertEqual(after["register"], before["register"])
        # An unknown token is refused before any permission is asked: counted on its own.
        self.assertEqual(self.unknown_tokens(), before_unknown + 1)

    def test_listings_hold_what_the_caller_may_read(self):
        status, body = self.get("/v1/services", TOKENS[READER])
        self.assertEqual(status, 200)
        names = {service["name"] for service in json.loads(body)["services"]}
        self.assertIn("catalog-http", names)
        self.assertNotIn("orders-http", names)
        status, body = self.get("/v1/services", TOKENS[OPS])
        self.assertTrue({"catalog-http", "orders-http"} <= {s["name"] for s in json.loads(body)["services"]})
        status, body = self.get("/v1/prometheus/targets", TOKENS[READER])
        self.assertEqual(status, 200)
        self.assertIn("10.7.0.2:80", body)
        self.assertNotIn("10.7.0.1:80", body)

    def test_probes_and_metrics_are_open(self):
        for path in ("/healthz", "/readyz", "/metrics"):
            with self.subTest(path=path):
                self.assertEqual(self.get(path)[0], 200)


class OwnPolicyTest(AuthzCase):
    """A registryd of each test's own, with a one-rule policy (no anonymous
    rule) and a token file: a caller that may read nothing cannot list; SIGHUP
    reloads the policy and token files, a broken file keeps what was loaded
    before and says where it is broken, and open streams are checked again."""

    def setUp(self):
        directory = tempfile.TemporaryDirectory(prefix="authz_reload_")
        self.addCleanup(directory.cleanup)
        self.policy = os.path.join(directory.name, "policy.txt")
        self.tokens = os.path.join(directory.name, "tokens.txt")
        write_file(self.policy, 'rule { identity: "reader-cn" service: "catalog*" permission: READ }\n')
        write_file(self.tokens, token_file({"tok-first": READER, "tok-norights": DEPLOYER}))
        self.registry = Registry(ARGS.registryd, extra=["--authz-policy", self.policy, "--auth-tokens", self.tokens])
        self.addCleanup(self.registry.kill)
        self.channel = grpc.insecure_channel(self.registry.address, options=CHANNEL_OPTIONS)
        self.addCleanup(self.channel.close)

    def sighup(self, expected_log):
        """SIGHUP, then waits until registryd logs one more `expected_log` line."""
        count = lambda: self.registry.stderr_text().count(expected_log)
        before = count()
        os.kill(self.registry.pid, signal.SIGHUP)
        self.assertTrue(wait_for(lambda: count() > before),
                        "no new %r line after SIGHUP:\n%s" % (expected_log, self.registry.stderr_text()))
        return self.registry.stderr_text().rsplit(expected_log, 1)[1].split("\n", 1)[0]

    def allowed(self, client, service):
        """Discover `service` as `client`: True, or False when refused."""
        try:
            client.discover(service)
            return True
        except grpc.RpcError as error:
            if error.code() not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
                raise
            return False

    def test_list_services_refused_to_a_caller_that_may_read_nothing(self):
        reader, nobody, anonymous = (Client(self.channel, token) for token in ("tok-first", "tok-norights", None))
        self.assertEqual(reader.list_services(), {})
        self.assertRefused(DEPLOYER, "read", None, nobody.list_services)
        self.assertRefused(ANONYMOUS, "read", None, anonymous.list_services)
        self.registry.stop()

    def test_sighup_reloads_the_policy_and_keeps_it_when_the_new_one_is_broken(self):
        reader = Client(self.channel, "tok-first")
        self.assertTrue(self.allowed(reader, "catalog-1"))
        self.assertRefused(READER, "read", "granted-later", reader.discover, "granted-later")
        # Grant granted-later, take catalog* back.
        write_file(self.policy, 'rule { identity: "reader-cn" service: "granted-later" permission: READ }\n')
        os.kill(self.registry.pid, signal.SIGHUP)
        self.assertTrue(wait_for(lambda: self.allowed(reader, "granted-later")), self.registry.stderr_text())
        self.assertRefused(READER, "read", "catalog-1", reader.discover, "catalog-1")  # same connection
        self.assertTrue(wait_for(lambda: "authorization reloaded" in self.registry.stderr_text()),
                        self.registry.stderr_text())
        # A broken file (line 2): the policy loaded before stays.
        write_file(self.policy, 'rule { identity: "reader-cn" service: "catalog*" permission: READ }\n'
                                'rule { identity: "reader-cn" service: "orders" permission: REED }\n')
        why = self.sighup("keeping the authorization policy loaded before: ")
        self.assertRegex(why, re.escape(self.policy) + r":2:\d+")
        self.assertTrue(self.allowed(reader, "granted-later"))
        self.assertRefused(READER, "read", "catalog-1", reader.discover, "catalog-1")
        self.assertRefused(READER, "read", "orders", reader.discover, "orders")
        # Fixed: reloaded.
        write_file(self.policy, 'rule { identity: "reader-cn" service: "catalog*" permission: READ }\n')
        self.sighup("authorization reloaded")
        self.assertTrue(self.allowed(reader, "catalog-1"))
        self.assertRefused(READER, "read", "granted-later", reader.discover, "granted-later")
        self.registry.stop()

    def test_a_reload_ends_the_open_streams_whose_read_it_takes_away(self):
        reader = Client(self.channel, "tok-first")
        watches = {service: reader.watch(service) for service in ("catalog-kept", "catalog-lost")}
        streams = {service: reader.ads() for service in ("catalog-kept", "catalog-lost")}
        for service in watches:
            self.addCleanup(watches[service].cancel)
            self.addCleanup(streams[service].close)
            self.assertTrue(next(watches[service]).snapshot)
            streams[service].send(ads_request([service]))
            self.assertEqual(ads_endpoints(streams[service].receive()), {service: set()})
        write_file(self.policy, 'rule { identity: "reader-cn" service: "catalog-kept" permission: READ }\n'
                                'rule { identity: "%s" service: "catalog*" permission: REGISTER }\n' % DEPLOYER)
        self.sighup("authorization reloaded")
        # Nothing changed in the registry: the reload itself has every stream look again.
        self.assertRefused(READER, "read", "catalog-lost", next, watches["catalog-lost"])
        self.assertRefused(READER, "read", "catalog-lost", streams["catalog-lost"].receive)
        # The streams it may still read go on, and see the next change.
        Client(self.channel, "tok-norights").register("catalog-kept", "k-1", "10.1.9.1:80")
        seen = []
        while "k-1" not in seen:
            seen += [event.instance.instance_id for event in next(watches["catalog-kept"]).events]
        self.assertEqual(ads_endpoints(streams["catalog-kept"].receive()), {"catalog-kept": {"10.1.9.1:80"}})
        self.registry.stop()

    def test_sighup_reloads_the_tokens_and_keeps_them_when_the_new_file_is_broken(self):
        first, fresh = Client(self.channel, "tok-first"), Client(self.channel, "tok-fresh")
        self.assertTrue(self.allowed(first, "catalog-1"))
        self.assertCode(grpc.StatusCode.UNAUTHENTICATED, fresh.discover, "catalog-1")
        # tok-fresh in, tok-first out.
        write_file(self.tokens, token_file({"tok-fresh": READER}))
        os.kill(self.registry.pid, signal.SIGHUP)
        self.assertTrue(wait_for(lambda: self.allowed(fresh, "catalog-1")), self.registry.stderr_text())
        self.assertCode(grpc.StatusCode.UNAUTHENTICATED, first.discover, "catalog-1")
        # A broken token file (line 3: not a SHA-256): the tokens loaded before stay.
        write_file(self.tokens, token_file({"tok-fresh": READER, "tok-first": READER})
                   + 'token { sha256: "not-a-hash" identity: "spiffe://shop/sa/orders" }\n')
        why = self.sighup("keeping the authorization policy loaded before: ")
        self.assertRegex(why, re.escape(self.tokens) + r":3:\d+")
        self.assertTrue(self.allowed(fresh, "catalog-1"))
        self.assertCode(grpc.StatusCode.UNAUTHENTICATED, first.discover, "catalog-1")
        self.registry.stop()


class KeptOwnerTest(AuthzCase):
    """An instance's owner is kept in the data dir: after a restart, another
    identity still may not renew or take over what it did not register."""

    def test_owners_survive_a_restart(self):
        directory = tempfile.TemporaryDirectory(prefix="authz_kept_")
        self.addCleanup(directory.cleanup)
        policy, tokens = os.path.join(directory.name, "policy.txt"), os.path.join(directory.name, "tokens.txt")
        write_file(policy, POLICY)
        write_file(tokens, token_file({token: identity for identity, token in TOKENS.items()}))
        start = lambda: Registry(ARGS.registryd, extra=["--authz-policy", policy, "--auth-tokens", tokens],
                                 data_dir=os.path.join(directory.name, "data"))
        registry = start()
        self.addCleanup(registry.kill)
        with grpc.insecure_channel(registry.address, options=CHANNEL_OPTIONS) as channel:
            lease = Client(channel, TOKENS[ORDERS]).register("shared-kept", "o-1", "10.6.0.1:80").lease_id
            self.assertTrue(Client(channel, TOKENS[ORDERS]).seed_register(9901, "shared-kept", 7901).success)
        registry.stop()
        registry = start()
        self.addCleanup(registry.kill)
        channel = grpc.insecure_channel(registry.address, options=CHANNEL_OPTIONS)
        self.addCleanup(channel.close)
        orders, billing, ops = (Client(channel, TOKENS[identity]) for identity in (ORDERS, BILLING, OPS))
        self.assertTrue(wait_for(lambda: len(ops.discover("shared-kept").instances) == 2))
        self.assertRefused(BILLING, "renew a lease in", "shared-kept", billing.heartbeat, lease, True)
        self.assertRefused(BILLING, "register in", "shared-kept", billing.register, "shared-kept", "o-1",
                           "10.6.0.66:80")
        self.assertRefused(BILLING, "renew a lease in", "shared-kept", billing.seed_heartbeat, 9901)
        self.assertRefused(BILLING, ("deregister from", "register in"), "shared-kept", billing.seed_register, 9901,
                           "shared-elsewhere", 7999)
        self.assertEqual({(i.instance_id, i.address, i.overloaded) for i in ops.discover("shared-kept").instances},
                         {("o-1", "10.6.0.1:80", False), ("9901", "10.9.0.1:7901", False)})
        self.assertGreater(orders.heartbeat(lease).ttl_ms, 0)
        self.assertTrue(orders.seed_heartbeat(9901).success)
        registry.stop()


class AuditLogTest(AuthzCase):
    """--audit-log: every change made or refused (register through both APIs,
    deregister, eject) is one JSON line with time, identity, action, service,
    instance and result; renewals and reads are not changes."""

    def start_with_audit_log(self):
        """registryd under the test's policy and tokens, with an audit log:
        (registry, a channel to it, the log's path)."""
        directory = tempfile.TemporaryDirectory(prefix="authz_audit_")
        self.addCleanup(directory.cleanup)
        policy, tokens, audit = (os.path.join(directory.name, name) for name in ("policy.txt", "tokens.txt", "audit.jsonl"))
        write_file(policy, POLICY)
        write_file(tokens, token_file({token: identity for identity, token in TOKENS.items()}))
        registry = Registry(ARGS.registryd, extra=["--authz-policy", policy, "--auth-tokens", tokens,
                                                   "--audit-log", audit])
        self.addCleanup(registry.kill)
        channel = grpc.insecure_channel(registry.address, options=CHANNEL_OPTIONS)
        self.addCleanup(channel.close)
        return registry, channel, audit

    def test_changes_and_refusals_are_written(self):
        registry, channel, audit = self.start_with_audit_log()
        orders, billing, ops = (Client(channel, TOKENS[identity]) for identity in (ORDERS, BILLING, OPS))
        lease = orders.register("orders-audit", "o-1", "10.8.0.1:80").lease_id
        orders.heartbeat(lease)  # a renewal: not a change
        orders.discover("orders-audit")  # a read: not a change
        self.assertCode(grpc.StatusCode.PERMISSION_DENIED, billing.register, "orders-audit", "o-1", "10.8.0.9:80")
        self.assertCode(grpc.StatusCode.PERMISSION_DENIED, billing.deregister, lease)
        orders.seed_register(4242, "orders-audit", 7000)
        self.assertCode(grpc.StatusCode.PERMISSION_DENIED, orders.warn, 4242)
        ops.warn(4242)
        ops.deregister(lease)
        expected = [
            (ORDERS, "register", "orders-audit", "o-1", "ok"),
            (BILLING, "register", "orders-audit", "o-1", "PERMISSION_DENIED"),
            (BILLING, "deregister", "", "lease %016x" % lease, "PERMISSION_DENIED"),
            (ORDERS, "register", "orders-audit", "4242", "ok"),
            (ORDERS, "eject", "", "4242", "PERMISSION_DENIED"),
            (OPS, "eject", "orders-audit", "4242", "ok"),
            (OPS, "deregister", "orders-audit", "o-1", "ok"),
        ]

        def lines():
            with open(audit) as file:
                return [json.loads(line) for line in file]

        self.assertTrue(wait_for(lambda: len(lines()) >= len(expected)), lines())
        written = lines()
        self.assertEqual([(line["identity"], line["action"], line["service"], line["instance"], line["result"])
                          for line in written], expected)
        for line in written:
            self.assertRegex(line["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def test_a_rotation_under_load_loses_no_line(self):
        """logrotate's way: the file is renamed while changes are written,
        then SIGHUP; every change is in the old file or the new one, once."""
        registry, channel, audit = self.start_with_audit_log()
        orders = Client(channel, TOKENS[ORDERS])
        stop = threading.Event()
        registered = []

        def register_until_stopped():
            while not stop.is_set():
                instance = "r-%d" % len(registered)
                orders.register("orders-rotate", instance, "10.8.1.1:80")
                registered.append(instance)

        writer = threading.Thread(target=register_until_stopped)
        writer.start()
        self.addCleanup(writer.join)
        self.addCleanup(stop.set)

        def count(path):
            if not os.path.exists(path):
                return 0
            with open(path) as file:
                return sum(1 for _ in file)

        self.assertTrue(wait_for(lambda: count(audit) >= 100))
        os.rename(audit, audit + ".1")
        os.kill(registry.pid, signal.SIGHUP)
        self.assertTrue(wait_for(lambda: count(audit) >= 100), registry.stderr_text())
        stop.set()
        writer.join()
        written = []
        for path in (audit + ".1", audit):
            with open(path) as file:
                written += [json.loads(line)["instance"] for line in file]
        self.assertGreaterEqual(count(audit + ".1"), 100)
        self.assertEqual(sorted(written), sorted(registered))

    def test_audit_log_needs_a_policy(self):
        directory = tempfile.TemporaryDirectory(prefix="authz_audit_")
        self.addCleanup(directory.cleanup)
        result = subprocess.run([ARGS.registryd, "--listen", "127.0.0.1:0", "--data-dir", "", "--http-listen", "",
                                 "--dns-listen", "",
                                 "--audit-log", os.path.join(directory.name, "audit.jsonl")],
                                capture_output=True, text=True, timeout=TIMEOUT)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("--audit-log needs --authz-policy", result.stderr)


class NoPolicyTest(AuthzCase):
    """Without --authz-policy everything is allowed to everyone, as before,
    and the start says so."""

    def test_a_non_loopback_address_without_a_policy_warns(self):
        # Bound to every address, but called (as every test here) on loopback.
        registry = Registry(ARGS.registryd, listen="0.0.0.0:0")
        self.addCleanup(registry.kill)
        self.assertTrue(wait_for(lambda: "no --authz-policy: anyone who can reach" in registry.stderr_text()),
                        registry.stderr_text())

    def test_everything_is_allowed(self):
        registry = Registry(ARGS.registryd)
        self.addCleanup(registry.kill)
        line = wait_for(lambda: re.search(r"authorization: none.*", registry.stderr_text()))
        self.assertTrue(line, registry.stderr_text())
        self.assertIn("anyone may change the registry", line.group(0))
        self.assertNotIn("no --authz-policy: anyone who can reach", registry.stderr_text())  # loopback: no warning
        channel = grpc.insecure_channel(registry.address, options=CHANNEL_OPTIONS)
        self.addCleanup(channel.close)
        for round, client in enumerate((Client(channel), Client(channel, UNKNOWN_TOKEN))):
            with self.subTest(token=client.metadata):
                orders, billing, first, second = "orders-%d" % round, "billing-%d" % round, 42 + round, 52 + round
                lease = client.register(orders, "o-1", "10.5.0.1:80").lease_id
                self.assertGreater(client.heartbeat(lease, overloaded=True).ttl_ms, 0)
                self.assertEqual([(i.instance_id, i.overloaded) for i in client.discover(orders).instances],
                                 [("o-1", True)])
                self.assertEqual(client.list_services().get(orders), 1)
                self.assertTrue(client.watch_first("").snapshot)
                self.assertTrue(client.watch_first(orders).snapshot)
                stream = client.keep_alive()
                stream.send(pb.registry_pb2.KeepAliveRequest(lease_id=lease))
                self.assertLeaseRenewed(stream.receive(), lease)
                stream.close()
                ads = client.ads()
                ads.send(ads_request([orders]))
                self.assertEqual(ads_endpoints(ads.receive()), {orders: {"10.5.0.1:80"}})
                ads.close()
                client.deregister(lease)
                self.assertTrue(client.seed_register(first, orders, 4201).success)
                self.assertTrue(client.seed_register(second, orders, 4301).success)
                self.assertTrue(client.seed_heartbeat(first).success)
                self.assertIn(client.find(orders).serverId, (first, second))
                self.assertEqual(client.warn(first).serverId, second)
                self.assertTrue(client.seed_register(first, billing, 4202).success)  # a move
                self.assertEqual(client.find(billing).serverId, first)
                self.assertEqual({i.instance_id for i in client.discover(orders).instances}, {str(second)})
        registry.stop()


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registryd", required=True, help="the registryd binary")
    parser.add_argument("--registryctl", help="the registryctl binary (its --token-file is tested with it)")
    parser.add_argument("--protos", required=True, help="the protos/ directory")
    parser.add_argument("--protoc", required=True, help="protoc")
    parser.add_argument("--grpc-python-plugin", required=True, help="grpc_python_plugin")
    parser.add_argument("--asan", action="store_true",
                        help="registryd is built with AddressSanitizer (slower: longer stream deadlines)")
    ARGS, rest = parser.parse_known_args()
    if ARGS.asan:
        global RPC_TIMEOUT_S, STREAM_TIMEOUT_S
        RPC_TIMEOUT_S, STREAM_TIMEOUT_S = 3 * RPC_TIMEOUT_S, 3 * STREAM_TIMEOUT_S
    program = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    sys.exit(0 if program.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
