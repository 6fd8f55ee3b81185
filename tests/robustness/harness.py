#!/usr/bin/python3
"""One robustness run from one seed (docs/ROBUSTNESS.md): the seed draws the
mode (standalone with a data dir, or 3 nodes over a 3-member etcd), the
clients' plans and one fault with its timing. The run goes warm-up, fault,
heal, then a quiet period past the TTLs; every client operation and watch
response is recorded, then the checker (checker.py) judges the run's
directory. A failing run is kept whole under results/<scenario>/<seed>/,
with verdict.json, timeline.html and the command that replays it; a
passing one is deleted unless --keep.

Usage:
  /usr/bin/python3 tests/robustness/harness.py --seed 7 --registryd build/src/registryd --etcd /usr/bin/etcd \\
      --protos protos --protoc /usr/bin/protoc --grpc-python-plugin /usr/bin/grpc_python_plugin
  (or --scenario NAME instead of --seed: a plan kept in testdata/NAME.json)
"""
import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "interop"))

import actors  # noqa: E402
import checker  # noqa: E402
import faults  # noqa: E402
import stubs  # noqa: E402
import timeline  # noqa: E402
from etcd_cluster import EtcdCluster, Node, TcpProxy  # noqa: E402
from recorder import Clock, JsonLines  # noqa: E402
from registry_process import ServerProcess  # noqa: E402

TTL_MS = 2000          # every lease's and session's TTL
NODE_TTL_S = 2         # --node-ttl of the cluster's nodes
WARM_UP_S = 3.0
RESTORE_SPREAD_MS = 5000  # registryd's default, said here so the checker knows it
SERVICES = ("orders", "payments", "search")
PREFIX = "/robustness/"
TESTDATA = os.path.join(HERE, "testdata")  # the named regression scenarios
PROTOS = ("registry/v1/registry.proto", "etcd/etcdserverpb/rpc.proto", "etcd/mvccpb/kv.proto",
          "registryd/cluster.proto")


def draw(seed, mode=None, fault=None):
    """Everything a seed decides: the mode, the fault and the clients' plans."""
    rng = random.Random(seed)
    drawn_mode = rng.choice(("standalone", "cluster"))
    mode = mode or drawn_mode
    drawn_fault = faults.draw(mode, rng, TTL_MS / 1000, NODE_TTL_S, fault)
    fault_at = WARM_UP_S
    # Long enough for the longest fault; the quiet period follows its heal.
    horizon = fault_at + 2 * (TTL_MS / 1000 + NODE_TTL_S) + 2

    def moment():
        return round(rng.uniform(1.0, horizon), 3)

    clients = []
    for i in range(rng.randint(4, 7)):
        plan = {"kind": "lease", "seed": rng.randrange(1 << 30), "service": rng.choice(SERVICES)}
        if rng.random() < 0.3:
            plan["deregister_at"] = moment()
        if rng.random() < 0.25:
            plan["stop_at"] = moment()
        clients.append(("lease%d" % i, plan))
    for i in range(rng.randint(2, 3)):
        plan = {"kind": "session", "seed": rng.randrange(1 << 30), "services": rng.sample(SERVICES, 2),
                "instances": rng.randint(2, 5), "grace_ms": rng.choice((0, TTL_MS // 2, TTL_MS))}
        roll = rng.random()
        if roll < 0.2:
            plan["close_at"] = moment()
        elif roll < 0.45:
            plan["stop_at"] = moment()
            plan["stop_by_cancel"] = rng.random() < 0.5
        if rng.random() < 0.3:
            plan["deregister_at"] = moment()
        clients.append(("session%d" % i, plan))
    return {"seed": seed, "mode": mode, "fault": drawn_fault, "fault_at": fault_at, "horizon": horizon,
            "clients": clients,
            "ttl_ms": TTL_MS, "node_ttl_ms": NODE_TTL_S * 1000, "restore_spread_ms": RESTORE_SPREAD_MS}


# The negative control's journal: written once a second (the longest it
# allows), so a kill -9
# loses what was acknowledged since (the durability rule must say so).
UNSYNCED = ["--fsync", "batch", "--fsync-interval", "1s"]


class StandaloneNode:
    """registryd with a data dir under --fsync always (or `journal` flags),
    restartable on its port."""

    def __init__(self, registryd, data_dir, journal=("--fsync", "always"), failpoints=False, lowest_priority=False):
        self.flags = ["--threads", "2", "--min-ttl", "1s", "--tick", "20ms", "--data-dir", data_dir,
                      "--restore-spread", "%dms" % RESTORE_SPREAD_MS, *journal]
        self.registryd = registryd
        # With `failpoints`, under fiu-run: fiu-ctrl makes its system calls
        # fail through the named pipes <failpoint_control>-<pid>.{in,out}.
        self.failpoint_control = os.path.join(os.path.dirname(data_dir), "fiu-ctrl") if failpoints else None
        # With `lowest_priority`, at nice 19: a busy neighbour can starve it
        # (raising a priority again would take privileges).
        self.lowest_priority = lowest_priority
        self.port = 0
        self.server = None
        self.earlier_logs = ""  # of the processes before a restart
        self.start()

    def start(self):
        if self.server is not None:
            self.earlier_logs += self.server.stderr_text() + "--- restarted ---\n"
        preload = ["fiu-run", "-x", "-f", self.failpoint_control] if self.failpoint_control else []
        if self.lowest_priority:
            preload = ["nice", "-n", "19", *preload]
        self.server = ServerProcess([*preload, self.registryd, "--listen", "127.0.0.1:%d" % self.port, *self.flags])
        self.port = int(self.server.wait_listening(30).rsplit(":", 1)[1])

    def kill(self):
        self.server.kill()

    def stop(self):
        return self.server.stop()

    def log(self):
        """This process's log."""
        return self.server.stderr_text()

    def logs(self):
        """Every process's log, the earlier ones first."""
        return self.earlier_logs + self.server.stderr_text()


class EtcdHistory(threading.Thread):
    """etcd's own history of the prefix: a watch from revision 1, kept up
    through any member (it goes on from the last revision it saw when its
    member dies), each event decoded (instances and sessions as their
    stored protobufs say)."""

    def __init__(self, pb, etcd, run_dir, clock, stopping):
        super().__init__(name="etcd-history", daemon=True)
        self.pb = pb
        self.clock = clock
        self.etcd = etcd
        self.out = JsonLines(os.path.join(run_dir, "etcd_history.jsonl"))
        self.stopping = stopping
        self.revision = 0
        self.call = None
        self.lock = threading.Lock()

    def run(self):
        rpc = self.pb.rpc_pb2
        member = 0
        while not self.stopping.is_set():
            # Keepalive: a stopped member is left within HISTORY_LAG_S (checker.py).
            channel = grpc.insecure_channel(self.etcd.client_urls[member % 3].replace("http://", ""),
                                            options=[("grpc.keepalive_time_ms", 1000),
                                                     ("grpc.keepalive_timeout_ms", 1000)])
            stub = self.pb.rpc_pb2_grpc.WatchStub(channel)
            key = PREFIX.encode()
            create = rpc.WatchCreateRequest(key=key, range_end=key[:-1] + bytes([key[-1] + 1]),
                                            start_revision=self.revision + 1, progress_notify=True)
            try:
                with self.lock:
                    if self.stopping.is_set():
                        break
                    self.call = stub.Watch(iter([rpc.WatchRequest(create_request=create)]))
                for response in self.call:
                    for event in response.events:
                        self.out.write(dict(decode_etcd_event(self.pb, event), t=self.clock.now()))
                        self.revision = max(self.revision, event.kv.mod_revision)
                    if response.canceled:
                        # Compacted past what it saw: the rest of the history is gone for good.
                        self.out.write({"kind": "gap", "t": self.clock.now(), "revision": self.revision + 1,
                                        "reason": response.cancel_reason})
                        self.stopping.set()
                        break
            except grpc.RpcError:
                pass
            finally:
                channel.close()
            member += 1
            self.stopping.wait(0.2)
        self.out.close()

    def stop(self, until_revision):
        """Waits until the history reached `until_revision`, then ends it."""
        deadline = time.monotonic() + 10
        while self.revision < until_revision and not self.stopping.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        with self.lock:
            self.stopping.set()
            if self.call is not None:
                self.call.cancel()
        self.join(10)


def decode_etcd_event(pb, event):
    """An etcd event as the checker reads it."""
    key = event.kv.key.decode("utf-8", "replace")
    record = {"revision": event.kv.mod_revision, "type": "DELETE" if event.type == 1 else "PUT", "key": key}
    rest = key[len(PREFIX):]
    if rest.startswith("instances/") or rest.startswith("seeds/"):
        record["kind"] = "instance"
        if event.type == 0:
            stored = pb.cluster_pb2.StoredInstance.FromString(event.kv.value)
            record["value"] = {"service": stored.service.decode(), "instance": stored.instance_id.decode(),
                               "address": "%s:%d" % (stored.host.decode(), stored.port),
                               "metadata": {m.key.decode(): m.value.decode() for m in stored.metadata},
                               "overloaded": stored.overloaded, "ejected": stored.ejected,
                               "holder": stored.holder.decode(), "lease": stored.lease_id,
                               "session": stored.session_id}
    elif rest.startswith("sessions/"):
        record["kind"] = "session"
        if event.type == 0:
            stored = pb.cluster_pb2.StoredSession.FromString(event.kv.value)
            record["value"] = {"session": stored.session_id, "holder": stored.holder.decode(),
                               "ended": stored.ended}
    elif rest.startswith("nodes/"):
        record["kind"] = "node"
    else:
        record["kind"] = "other"
    return record


class Run:
    """A run in progress: its processes, proxies, clock and logs."""

    def __init__(self, plan, args, run_dir, pb):
        self.plan = plan
        self.args = args
        self.run_dir = run_dir
        self.pb = pb
        self.clock = Clock()
        self.fault_log = JsonLines(os.path.join(run_dir, "faults.jsonl"))
        self.nodes = []
        self.etcd = None
        self.etcd_proxies = []
        self.client_proxy = None
        self.scratch = tempfile.mkdtemp(prefix="robustness_")

    def log_fault(self, action, target, **fields):
        self.fault_log.write(dict(fields, t=self.clock.now(), action=action, target=target))

    def sleep(self, seconds):
        time.sleep(seconds)

    def start(self):
        if self.plan["mode"] == "standalone":
            journal = UNSYNCED if self.args.negative_control else ("--fsync", "always")
            self.nodes = [StandaloneNode(self.args.registryd, os.path.join(self.run_dir, "data0"), journal,
                                         failpoints=self.plan["fault"]["name"] in faults.DISK,
                                         lowest_priority=self.plan["fault"]["name"] == "overload")]
        else:
            self.etcd = EtcdCluster(self.args.etcd, members=3)
            self.etcd_proxies = [[TcpProxy(port) for port in self.etcd.client_ports] for _ in range(3)]
            for i in range(3):  # one by one: close() stops those that started
                self.nodes.append(Node(self.args.registryd, [p.url for p in self.etcd_proxies[i]], PREFIX,
                                       node_ttl="%ds" % NODE_TTL_S, extra=["--node-name", "node%d" % i]))
        self.client_proxy = TcpProxy(self.nodes[0].port)
        return ["127.0.0.1:%d" % self.client_proxy.port] + ["127.0.0.1:%d" % n.port for n in self.nodes[1:]]

    def catalog(self, node):
        """{service: sorted instance ids} as `node` lists them (Discover)."""
        channel = grpc.insecure_channel("127.0.0.1:%d" % node.port)
        stub = self.pb.registry_pb2_grpc.RegistryStub(channel)
        try:
            return {service: sorted(i.instance_id for i in stub.Discover(
                self.pb.registry_pb2.DiscoverRequest(service=service), timeout=5).instances) for service in SERVICES}
        finally:
            channel.close()

    def record_recovered(self, node):
        """What a node lists right after a restart (the durability rule reads it)."""
        call = self.clock.now()
        listed = self.catalog(node)
        with open(os.path.join(self.run_dir, "recovered.json"), "w") as out:
            json.dump({"call": call, "return": self.clock.now(), "instances": listed}, out, indent=1)

    def final_state(self):
        """Every node's catalog and, in cluster mode, etcd's (final.json)."""
        state = {"t": self.clock.now(), "nodes": {str(i): self.catalog(node) for i, node in enumerate(self.nodes)}}
        if self.etcd is not None:
            state["etcd_revision"] = self.etcd.revision()
        return state

    def close(self):
        for i, node in enumerate(self.nodes):
            try:
                if node.server.proc.poll() is None:
                    node.stop()
                else:
                    raise AssertionError("node %d had exited by itself (code %s)" % (i, node.server.proc.returncode))
            except AssertionError as unclean:
                with open(os.path.join(self.run_dir, "unclean_stop.txt"), "a") as out:
                    out.write(str(unclean).splitlines()[0] + "\n")
        for i, node in enumerate(self.nodes):
            with open(os.path.join(self.run_dir, "node%d.log" % i), "w") as out:
                out.write(node.logs() if hasattr(node, "logs") else node.log())
        for proxies in self.etcd_proxies:
            for proxy in proxies:
                proxy.close()
        if self.client_proxy is not None:
            self.client_proxy.close()
        if self.etcd is not None:
            for i in range(3):
                with open(os.path.join(self.run_dir, "etcd%d.log" % i), "w") as out:
                    out.write(self.etcd.log_tail(i, 200))
            self.etcd.close()
        self.fault_log.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def execute(plan, args, run_dir, pb):
    """Runs `plan`, recording into `run_dir`."""
    run = Run(plan, args, run_dir, pb)
    env = history = None
    try:
        addresses = run.start()
        run.clock.restart()  # the plans' moments count from the clients' start, not the processes'
        env = actors.Env(pb, addresses, run.clock, run_dir, plan["ttl_ms"])
        if run.etcd is not None:
            history = EtcdHistory(pb, run.etcd, run_dir, run.clock, threading.Event())
            history.start()
        watchers = [actors.Watcher(env, "watch%d" % i, i) for i in range(len(addresses))]
        clients = [actors.LeaseClient(env, name, p) if p["kind"] == "lease" else actors.SessionClient(env, name, p)
                   for name, p in plan["clients"]]
        lister = actors.Lister(env, "lister", SERVICES)
        for thread in watchers + clients + [lister]:
            thread.start()
        time.sleep(plan["fault_at"])
        fault = dict(plan["fault"])
        fault["start"], fault["end"] = faults.inject(run, fault)
        # Quiet: past every TTL (a stopped client's lease, a session's grace,
        # a dead node's), plus the checker's visibility bound, after both the
        # heal and the last moment a client's plan acts.
        quiet = plan["ttl_ms"] / 1000 * 2 + plan["node_ttl_ms"] / 1000 + checker.VISIBILITY_BOUND_S + 1
        time.sleep(max(0.0, max(fault["end"], plan["horizon"]) + quiet - run.clock.now()))
        final = run.final_state()
        env.stopping.set()
        for watcher in watchers:
            watcher.stop()
        for thread in watchers + clients + [lister]:
            thread.join(10)
        if history is not None:
            history.stop(final["etcd_revision"])
        with open(os.path.join(run_dir, "final.json"), "w") as out:
            json.dump(final, out, indent=1)
        with open(os.path.join(run_dir, "run.json"), "w") as out:
            json.dump(dict(plan, fault=fault, end=run.clock.now(), clock_origin=run.clock.origin, addresses=addresses,
                           replay=replay_command(args, plan)), out, indent=1)
        env.close_kept_channels()
    finally:
        if env is not None:
            env.stopping.set()
            env.close_kept_channels()
        if history is not None and history.is_alive():
            history.stop(0)
        run.close()


def replay_command(args, plan):
    if args.scenario:
        return "tools/robustness.sh --scenario %s" % args.scenario
    return " ".join(["tools/robustness.sh", "--seed", str(plan["seed"])] +
                    (["--mode", args.mode] if args.mode else []) + (["--fault", args.fault] if args.fault else []) +
                    (["--negative-control"] if args.negative_control else []))


def regression_scenarios():
    """The named regression scenarios (testdata/<name>.json): a bug the
    harness found, kept as the plan that found it, so that a later change
    of the draw does not lose it. {name: scenario}."""
    found = {}
    for entry in sorted(os.listdir(TESTDATA)):
        if entry.endswith(".json"):
            with open(os.path.join(TESTDATA, entry)) as scenario:
                found[entry[:-len(".json")]] = json.load(scenario)
    return found


def load_scenario(name_or_path):
    path = name_or_path if os.path.exists(name_or_path) else os.path.join(TESTDATA, name_or_path + ".json")
    with open(path) as scenario:
        return json.load(scenario)


def ci_runs():
    """CI's set: every regression scenario, then for every mode and fault
    none of them covers, the first seed that draws it. (test name, harness
    arguments)."""
    runs, covered = [], set()
    for name, scenario in regression_scenarios().items():
        runs.append(("robustness_regression_" + name, ["--scenario", name]))
        covered.add((scenario["plan"]["mode"], scenario["plan"]["fault"]["name"]))
    wanted = {("standalone", f) for f in faults.STANDALONE} | {("cluster", f) for f in faults.CLUSTER}
    wanted -= covered
    seed = 1
    while wanted:
        plan = draw(seed)
        drawn = (plan["mode"], plan["fault"]["name"])
        if drawn in wanted:
            wanted.discard(drawn)
            runs.append(("robustness_%s_%s" % drawn, ["--seed", str(seed)]))
        seed += 1
    return runs


def generate_stubs(args, out_dir):
    return stubs.generate(args.protos, args.protoc, args.grpc_python_plugin, out_dir, PROTOS)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--scenario", help="a named regression scenario (testdata/NAME.json) or its path, "
                        "instead of a seed")
    parser.add_argument("--list-ci-runs", action="store_true",
                        help="print CI's runs, one a line (test name, then a flag and its value): every regression "
                        "scenario, and for every mode and fault none covers, the first seed that draws it")
    parser.add_argument("--negative-control", action="store_true",
                        help="standalone with a journal written once a second: kill -9 must lose acknowledged "
                             "writes, and the checker must say so")
    parser.add_argument("--mode", choices=("standalone", "cluster"), help="instead of the drawn one")
    parser.add_argument("--fault", help="instead of the drawn one (faults.py)")
    parser.add_argument("--registryd")
    parser.add_argument("--etcd", default="/usr/bin/etcd")
    parser.add_argument("--registry-bench", help="registry_bench, which the overload fault runs")
    parser.add_argument("--protos")
    parser.add_argument("--protoc")
    parser.add_argument("--grpc-python-plugin")
    parser.add_argument("--results", default="robustness-results", help="where failing runs are kept")
    parser.add_argument("--keep", action="store_true", help="keep passing runs too")
    args = parser.parse_args()
    if args.list_ci_runs:
        for name, harness_args in ci_runs():
            print(name, *harness_args)
        return 0
    if (args.seed is None) == (args.scenario is None) or not (
            args.registryd and args.protos and args.protoc and args.grpc_python_plugin):
        parser.error("a run needs --seed or --scenario, --registryd, --protos, --protoc and --grpc-python-plugin")
    if args.negative_control:
        args.mode, args.fault = "standalone", "kill9_restart"
    if args.scenario:
        plan = load_scenario(args.scenario)["plan"]
        args.seed = plan["seed"]
    else:
        plan = draw(args.seed, args.mode, args.fault)
    if plan["fault"]["name"] == "overload" and not args.registry_bench:
        parser.error("the overload fault needs --registry-bench")
    scenario = "%s-%s%s" % (plan["mode"], plan["fault"]["name"], "-unsynced" if args.negative_control else "")
    run_dir = os.path.abspath(os.path.join(args.results, scenario, str(args.seed)))
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    with tempfile.TemporaryDirectory(prefix="robustness_stubs_") as stub_dir:
        pb = generate_stubs(args, stub_dir)
        execute(plan, args, run_dir, pb)
    verdict = checker.check(run_dir)
    with open(os.path.join(run_dir, "verdict.json"), "w") as out:
        json.dump(verdict, out, indent=1)
    timeline.write(run_dir, verdict)
    if args.negative_control:
        lost = [v for v in verdict["violations"] if v["invariant"] == "durability"]
        if lost:
            print("seed %d (%s): the negative control failed as it must: %s" % (args.seed, scenario,
                                                                                json.dumps(lost[0])))
            shutil.rmtree(run_dir)
            return 0
        print("seed %d (%s): the negative control lost nothing, so the durability rule proves nothing\n"
              "  kept in %s" % (args.seed, scenario, run_dir))
        return 1
    if verdict["ok"]:
        print("seed %d (%s): ok, %s" % (args.seed, scenario, checker.summary(verdict)))
        if not args.keep:
            shutil.rmtree(run_dir)
        return 0
    print("seed %d (%s): VIOLATION %s\n  kept in %s\n  replay: %s" % (
        args.seed, scenario, json.dumps(verdict["violations"][0]), run_dir, replay_command(args, plan)))
    return 1


if __name__ == "__main__":
    sys.exit(main())
