#!/usr/bin/python3
"""Standard gRPC clients balance through registryd's xDS (ADS) with nothing
but a bootstrap file naming it: a C++ client (Debian's gRPC C++), a Python
client (python3-grpcio) and a Node client (@grpc/grpc-js + grpc-js-xds from
npm) call an echo service of the test's own, whose backends (several
loopback ports) are registered in registryd, through "xds:///echo". All
three run at once, each with one channel per target kept for the whole test,
and each step waits (with a generous timeout, never timing anything) until
every client shows it:

- calls spread over all live instances; a new instance gets calls;
- an expired, a deregistered and an ejected instance get none (and an
  ejected one gets calls again after its next heartbeat);
- all overloaded but one: that one gets every call; all overloaded: they
  share the calls;
- weights (the `weight` metadata entry): calls in proportion;
- an unknown service fails at once with UNAVAILABLE, not at its deadline;
- registryd restarting: the clients reconnect to ADS and keep working, and
  see what changed after.

Usage: xds_clients_test.py --registryd PATH --protos DIR --protoc PATH
       --grpc-python-plugin PATH [--cxx-client PATH] [--node NODE
       --node-packages SCRIPT --work-dir DIR]
"""
import argparse
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest
from concurrent import futures

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
import stubs  # noqa: E402
from registry_process import Registry, free_port, wait_for  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ARGS = None
pb = None
STEP_TIMEOUT = 30  # seconds for a change to reach every client
BATCH = 30         # calls per look


class Backend:
    """A gRPC server on a loopback port answering /echo.Echo/Who with its name."""

    def __init__(self, name):
        self.name = name
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.unary_unary_rpc_method_handler(lambda request, context: name.encode())
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("echo.Echo", {"Who": handler})])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port


class Client:
    """One client process: a command line in, a JSON line out."""

    def __init__(self, kind, argv, cwd, env, log_path):
        self.kind = kind
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def calls(self, target, count=BATCH, deadline_ms=5000):
        self.proc.stdin.write("calls %s %d %d\n" % (target, count, deadline_ms))
        self.proc.stdin.flush()
        line = self.lines.get(timeout=count * deadline_ms / 1000 + 60)
        if line is None:
            raise AssertionError("the %s client exited (code %r); its log:\n%s"
                                 % (self.kind, self.proc.wait(), open(self.log.name).read()[-4000:]))
        return json.loads(line)

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (subprocess.TimeoutExpired, BrokenPipeError):
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class XdsClientsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Class cleanups run even when setUpClass fails half way: no process outlives the test.
        global pb
        cls.scratch = tempfile.mkdtemp(prefix="xds_clients_test.")
        cls.addClassCleanup(shutil.rmtree, cls.scratch, ignore_errors=True)
        pb = stubs.generate(ARGS.protos, ARGS.protoc, ARGS.grpc_python_plugin, cls.scratch)
        cls.port = free_port()
        cls.data_dir = os.path.join(cls.scratch, "data")
        cls.registry = cls.start_registry()
        cls.addClassCleanup(lambda: cls.registry.stop())
        cls.connect()
        cls.addClassCleanup(lambda: cls.channel.close())
        cls.backends = {name: Backend(name) for name in ["b0", "b1", "b2", "b3", "b4", "b5", "w0", "w1"]}
        for backend in cls.backends.values():
            cls.addClassCleanup(backend.server.stop, None)
        bootstrap = os.path.join(cls.scratch, "bootstrap.json")
        with open(bootstrap, "w") as out:
            json.dump({"xds_servers": [{"server_uri": "127.0.0.1:%d" % cls.port,
                                        "channel_creds": [{"type": "insecure"}],
                                        "server_features": ["xds_v3"]}],
                       "node": {"id": "xds_clients_test", "locality": {}}}, out)
        env = dict(os.environ, GRPC_XDS_BOOTSTRAP=bootstrap)
        commands = [("python", [sys.executable, os.path.join(HERE, "xds_echo_client.py")], cls.scratch)]
        if ARGS.cxx_client:
            commands.append(("C++", [os.path.abspath(ARGS.cxx_client)], cls.scratch))
        if ARGS.node:
            work = subprocess.run(["bash", ARGS.node_packages, HERE, os.path.join(ARGS.work_dir, "xds_node_client")],
                                  check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
            shutil.copy(os.path.join(HERE, "xds_echo_client.mjs"), work)
            commands.append(("Node", [ARGS.node, "xds_echo_client.mjs"], work))
        cls.clients = []
        for kind, argv, cwd in commands:
            cls.clients.append(Client(kind, argv, cwd, env, os.path.join(cls.scratch, kind + ".log")))
            cls.addClassCleanup(cls.clients[-1].stop)

    @classmethod
    def start_registry(cls):
        return Registry(ARGS.registryd, listen="127.0.0.1:%d" % cls.port, data_dir=cls.data_dir,
                        extra=["--lease-ttl", "10m", "--max-ttl", "1h"])

    @classmethod
    def connect(cls):
        cls.channel = grpc.insecure_channel(cls.registry.address)
        cls.native = pb.registry_pb2_grpc.RegistryStub(cls.channel)
        cls.seed_registry = pb.registry_service_pb2_grpc.RegistryServiceStub(cls.channel)
        cls.seed_discovery = pb.discovery_service_pb2_grpc.DiscoveryServiceStub(cls.channel)

    # Registry changes.
    def register(self, name, service="echo", ttl_ms=0, overloaded=False, metadata=None):
        reply = self.native.Register(pb.registry_pb2.RegisterRequest(
            service=service, address=self.backends[name].address, instance_id=name, ttl_ms=ttl_ms,
            overloaded=overloaded, metadata=metadata or {}), timeout=10)
        return reply.lease_id

    def heartbeat(self, lease, overloaded):
        self.native.Heartbeat(pb.registry_pb2.HeartbeatRequest(lease_id=lease, overloaded=overloaded), timeout=10)

    # What the clients see.
    def until(self, what, condition, target="xds:///echo", count=BATCH):
        """Waits until every client's batch of calls meets `condition`."""
        for client in self.clients:
            seen = []

            def look():
                seen.append(client.calls(target, count))
                return condition(seen[-1])
            if not wait_for(look, timeout=STEP_TIMEOUT):
                self.fail("%s client: %s never showed within %d s; last batch: %s\n--- registryd ---\n%s"
                          % (client.kind, what, STEP_TIMEOUT, seen[-1] if seen else None,
                             self.registry.stderr_text()[-3000:]))

    def steady(self, what, condition, target="xds:///echo", count=BATCH):
        """Once shown, it holds: the next batch of every client meets it too."""
        for client in self.clients:
            batch = client.calls(target, count)
            self.assertTrue(condition(batch), "%s client: %s stopped holding: %s" % (client.kind, what, batch))

    def only(self, *names):
        return lambda batch: not batch["errors"] and set(batch["backends"]) == set(names)

    def test_standard_clients_follow_the_registry(self):
        self.register("b0")
        self.seed_registry.discovery(pb.registry_service_pb2.RecordRequest(
            serverId=101, serverIp="127.0.0.1", serverPort=self.backends["b1"].port, service="echo"), timeout=10)
        lease_b2 = self.register("b2")
        self.until("calls spread over b0, b1, b2", self.only("b0", "b1", "b2"), count=60)

        self.register("b3")
        self.until("the new instance b3 gets calls", self.only("b0", "b1", "b2", "b3"), count=60)

        self.register("b3", ttl_ms=1500)  # the same instance, now with a short lease it does not renew
        self.until("expired b3 gets none", self.only("b0", "b1", "b2"), count=60)
        self.steady("expired b3 gets none", self.only("b0", "b1", "b2"), count=60)

        self.native.Deregister(pb.registry_pb2.DeregisterRequest(lease_id=lease_b2), timeout=10)
        self.until("deregistered b2 gets none", self.only("b0", "b1"))
        self.steady("deregistered b2 gets none", self.only("b0", "b1"))

        self.seed_discovery.warnServerError(pb.discovery_service_pb2.ServerError(serverId=101), timeout=10)
        self.until("ejected b1 gets none", self.only("b0"))
        self.steady("ejected b1 gets none", self.only("b0"))
        self.seed_registry.heartBeat(pb.registry_service_pb2.RenewRequest(serverId=101), timeout=10)
        self.until("b1 gets calls again after its heartbeat", self.only("b0", "b1"))

        lease_b0 = self.register("b0")
        lease_b4 = self.register("b4", overloaded=True)
        self.seed_registry.heartBeat(pb.registry_service_pb2.RenewRequest(serverId=101, overloaded=True), timeout=10)
        self.until("all overloaded but b0: b0 gets every call", self.only("b0"))
        self.steady("all overloaded but b0: b0 gets every call", self.only("b0"))
        self.heartbeat(lease_b0, overloaded=True)
        self.until("all overloaded: they share the calls", self.only("b0", "b1", "b4"))
        self.heartbeat(lease_b4, overloaded=False)
        self.until("b4 no longer overloaded gets every call", self.only("b4"))

        self.registryd_restarts()

    def registryd_restarts(self):
        before = self.registry.stop()
        self.assertIn("stopped", before)
        self.steady("calls go on while registryd is down", lambda batch: not batch["errors"])
        type(self).registry = self.start_registry()
        self.channel.close()
        type(self).connect()
        self.register("b5")
        self.until("after registryd restarted, the new instance b5 gets calls",
                   lambda batch: not batch["errors"] and "b5" in batch["backends"], count=60)

    def test_weights_share_calls_in_proportion(self):
        self.register("w0", service="weighted", metadata={"weight": "3"})
        self.register("w1", service="weighted")
        self.until("both weighted instances get calls", self.only("w0", "w1"), target="xds:///weighted")
        for client in self.clients:
            batch = client.calls("xds:///weighted", 400)
            self.assertEqual(batch["errors"], {}, client.kind)
            ratio = batch["backends"].get("w0", 0) / max(1, batch["backends"].get("w1", 0))
            self.assertTrue(2 <= ratio <= 4.5, "%s client: weight 3 to 1 gave %s" % (client.kind, batch["backends"]))

    def test_an_unknown_service_fails_at_once_with_unavailable(self):
        for client in self.clients:
            # A deadline far beyond the test's patience: UNAVAILABLE, not DEADLINE_EXCEEDED, shows it did not wait.
            batch = client.calls("xds:///nothing-registered", 1, deadline_ms=600_000)
            self.assertEqual(batch["errors"], {"UNAVAILABLE": 1}, "%s client: %s" % (client.kind, batch))


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--registryd", required=True, type=os.path.abspath)
    parser.add_argument("--protos", required=True)
    parser.add_argument("--protoc", required=True)
    parser.add_argument("--grpc-python-plugin", required=True)
    parser.add_argument("--cxx-client")
    parser.add_argument("--node")
    parser.add_argument("--node-packages")
    parser.add_argument("--work-dir")
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
