#!/usr/bin/python3
"""HAProxy (Debian's haproxy 2.6) balancing over registryd's DNS face: a
backend on server-template with SRV records through `resolvers`, small HTTP
servers of the test as the instances. Registered instances get requests;
a new registration gets them within HAProxy's resolver hold; an expired,
deregistered or ejected instance stops getting them; the weight metadata is
HAProxy's server weight; HAProxy ignores SRV priority (an overloaded
instance keeps its share).
Usage:
  /usr/bin/python3 tests/interop/haproxy_test.py --registryd build/src/registryd --protos protos \\
      --protoc /usr/bin/protoc --grpc-python-plugin /usr/bin/grpc_python_plugin --haproxy /usr/sbin/haproxy [-v]
"""
import argparse
import collections
import http.server
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import grpc

import stubs
from registry_process import ServerProcess, free_port, wait_for

ARGS = None
pb = None
RPC_TIMEOUT = 10
WAIT = 20  # seconds: generous, for the sanitizer builds
SLOTS = 8  # server-template's servers


def setUpModule():
    global pb
    pb = stubs.generate_for(ARGS, "haproxy_test_")


class Backend:
    """An HTTP server on loopback that answers every GET with its name."""

    def __init__(self, name):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.name = name
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class HaproxyTest(unittest.TestCase):
    def setUp(self):
        self.registry = ServerProcess([ARGS.registryd, "--listen", "127.0.0.1:0", "--threads", "2", "--min-ttl", "1s",
                                       "--tick", "20ms", "--data-dir", ""])
        self.addCleanup(self.registry.stop)
        self.registry.wait_listening()
        dns_port = int(re.search(r"DNS face on 127\.0\.0\.1:(\d+)", self.registry.stderr_text()).group(1))
        self.channel = grpc.insecure_channel(self.registry.address)
        self.addCleanup(self.channel.close)
        self.native = pb.registry_pb2_grpc.RegistryStub(self.channel)
        self.seed = pb.registry_service_pb2_grpc.RegistryServiceStub(self.channel)
        self.discovery = pb.discovery_service_pb2_grpc.DiscoveryServiceStub(self.channel)
        self.backends = {}
        directory = tempfile.TemporaryDirectory(prefix="haproxy_test_")
        self.addCleanup(directory.cleanup)
        self.front = free_port()
        self.stats = os.path.join(directory.name, "admin.sock")
        config = os.path.join(directory.name, "haproxy.cfg")
        with open(config, "w") as out:
            out.write(f"""global
  stats socket {self.stats} mode 600 level admin
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
resolvers registryd
  nameserver registryd 127.0.0.1:{dns_port}
  accepted_payload_size 1232
  hold valid 1s
  hold obsolete 0s
  hold nx 0s
  timeout resolve 200ms
  timeout retry 200ms
frontend shop
  bind 127.0.0.1:{self.front}
  default_backend orders
backend orders
  balance roundrobin
  server-template orders {SLOTS} _orders._tcp.service.registryd resolvers registryd init-addr none
""")
        self.log = open(os.path.join(directory.name, "haproxy.log"), "w+")
        self.addCleanup(self.log.close)
        self.haproxy = subprocess.Popen([ARGS.haproxy, "-f", config, "-db"], stdin=subprocess.DEVNULL,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        self.addCleanup(self.stop_haproxy)
        self.assertTrue(wait_for(lambda: os.path.exists(self.stats), WAIT), self.haproxy_log())

    def stop_haproxy(self):
        self.haproxy.terminate()
        self.haproxy.wait(10)

    def haproxy_log(self):
        self.log.flush()
        with open(self.log.name) as text:
            return text.read()[-3000:]

    def backend(self, name):
        backend = Backend(name)
        self.addCleanup(backend.close)
        self.backends[name] = backend
        return backend

    def register(self, name, ttl_ms=60000, weight=None):
        backend = self.backends.get(name) or self.backend(name)
        return self.native.Register(pb.registry_pb2.RegisterRequest(
            service="orders", instance_id=name, address="127.0.0.1:%d" % backend.port, ttl_ms=ttl_ms,
            metadata={"weight": str(weight)} if weight else {}), timeout=RPC_TIMEOUT).lease_id

    def hits(self, count=24):
        """Which backends `count` requests through HAProxy reached (failed ones not counted)."""
        reached = collections.Counter()
        for _ in range(count):
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/" % self.front, timeout=5) as reply:
                    reached[reply.read().decode()] += 1
            except (urllib.error.URLError, OSError):
                pass
        return reached

    def reaches(self, *names):
        return set(self.hits()) == set(names)

    def until(self, what, condition):
        started = time.monotonic()
        self.assertTrue(wait_for(condition, WAIT), "%s; HAProxy reached %s\n%s" % (what, self.hits(), self.haproxy_log()))
        print("  %-60s %.2f s" % (what, time.monotonic() - started), file=sys.stderr)

    def weights(self):
        """{server name: (its address, its weight)} from HAProxy's stats socket."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(self.stats)
            sock.sendall(b"show servers state orders\n")
            text = sock.makefile().read()
        state = {}
        for line in text.splitlines():
            fields = line.split()
            if len(fields) > 8 and fields[1] == "orders" and fields[4] != "-":
                state[fields[3]] = (fields[4], int(fields[7]))  # srv_addr, srv_uweight
        return state

    def test_the_backend_follows_the_registry(self):
        self.register("b0")
        b1 = self.register("b1")
        self.until("registered instances get requests", lambda: self.reaches("b0", "b1"))
        self.register("b2")
        self.until("a new registration gets requests", lambda: self.reaches("b0", "b1", "b2"))
        self.native.Deregister(pb.registry_pb2.DeregisterRequest(lease_id=b1), timeout=RPC_TIMEOUT)
        self.until("a deregistered instance gets none", lambda: self.reaches("b0", "b2"))
        self.register("b3", ttl_ms=1000)  # never renewed
        self.until("a short-lived registration gets requests", lambda: self.reaches("b0", "b2", "b3"))
        self.until("an expired instance gets none", lambda: self.reaches("b0", "b2"))

    def test_an_ejected_instance_gets_none_until_its_next_heartbeat(self):
        for server_id in (1, 2):
            backend = self.backend(str(server_id))
            self.seed.discovery(pb.registry_service_pb2.RecordRequest(
                serverId=server_id, serverIp="127.0.0.1", serverPort=backend.port, service="orders"),
                timeout=RPC_TIMEOUT)
        self.until("seed servers get requests", lambda: self.reaches("1", "2"))
        self.discovery.warnServerError(pb.discovery_service_pb2.ServerError(serverId=1), timeout=RPC_TIMEOUT)
        self.until("an ejected server gets none", lambda: self.reaches("2"))
        self.seed.heartBeat(pb.registry_service_pb2.RenewRequest(serverId=1), timeout=RPC_TIMEOUT)
        self.until("after its next heartbeat it gets requests again", lambda: self.reaches("1", "2"))

    def test_weights_are_haproxys_and_priorities_are_ignored(self):
        self.register("light", weight=1)
        heavy = self.register("heavy", weight=3)
        self.until("weighted instances get requests", lambda: self.reaches("light", "heavy"))
        # SRV weight 256 x W - 1: HAProxy's server weight (SRV weight / 256 + 1) is W.
        self.until("HAProxy weighs them 1 and 3",
                   lambda: sorted(weight for _, weight in self.weights().values()) == [1, 3])
        reached = self.hits(40)
        self.assertLessEqual(abs(reached["heavy"] - 3 * reached["light"]), 4, reached)  # 30:10, but where a turn starts
        # Overloaded: SRV priority 1 while the other is not; HAProxy 2.6
        # does not read SRV priority, so the instance keeps its share.
        self.native.Heartbeat(pb.registry_pb2.HeartbeatRequest(lease_id=heavy, overloaded=True), timeout=RPC_TIMEOUT)
        time.sleep(2)  # two resolutions (hold valid 1 s): what HAProxy does with the new priority
        reached = self.hits(40)
        self.assertLessEqual(abs(reached["heavy"] - 3 * reached["light"]), 4, reached)


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    stubs.add_arguments(parser)
    parser.add_argument("--haproxy", required=True)
    ARGS, rest = parser.parse_known_args()
    stubs.run_tests(rest)


if __name__ == "__main__":
    main()
