"""The faults a robustness run injects, one per run. Each runs
unprivileged: signals to the test's own processes, and TCP proxies the test
puts between registryd and etcd and between clients and node 0. A fault
logs what it does (faults.jsonl) and returns when it healed.

Every fault takes the run (harness.Run: its nodes, etcd, proxies, clock,
log), the fault's random generator, and its parameters."""
import contextlib
import itertools
import os
import signal
import subprocess
import threading
import time

import grpc

from recorder import History

STANDALONE = ("kill9_restart", "stall", "restart", "client_partition", "fsync_errors", "write_errors", "overload")
# Faults of the data dir's system calls: their registryd runs under libfiu's
# fiu-run (its POSIX preload library), which fiu-ctrl drives.
DISK = {"fsync_errors": ("enable", ("posix/io/sync/fdatasync", "posix/io/sync/fsync")),
        "write_errors": ("enable_random", ("posix/io/rw/write",))}
# overload: the share of every CPU registry_bench's neighbour keeps busy
# beside registryd at nice 19 (bench/busy_neighbour.h).
OVERLOAD_NEIGHBOUR_BUSY = 0.975
CLUSTER = ("kill9_node", "sigstop_node", "rolling_restart", "kill_etcd_member", "kill_etcd_leader",
           "sigstop_etcd_leader", "partition_node_etcd", "client_partition", "compaction_while_lagging",
           "slow_node_etcd", "flaky_node_etcd")


def draw(mode, rng, ttl_s, node_ttl_s, forced=None):
    """The fault of a run (`forced`, or drawn): its name, the node or member
    it hits, how long it lasts (seconds), and where in the first second of
    the fault window it starts."""
    kinds = STANDALONE if mode == "standalone" else CLUSTER
    name = rng.choice(kinds)
    if forced is not None and forced not in kinds:
        raise ValueError("no %s fault %r: %s" % (mode, forced, ", ".join(kinds)))
    name = forced or name
    fault = {"name": name, "target": rng.randrange(3), "offset": round(rng.uniform(0, 1.0), 3)}
    if name in ("stall", "sigstop_node"):
        # Past the lease TTL, and in cluster mode past the node TTL: a zombie owner.
        fault["duration"] = round(rng.uniform(ttl_s + node_ttl_s, 2 * (ttl_s + node_ttl_s)), 3)
    elif name in ("kill9_restart", "kill9_node", "kill_etcd_member", "kill_etcd_leader", "restart"):
        fault["duration"] = round(rng.uniform(0.3, node_ttl_s + ttl_s), 3)
    elif name == "sigstop_etcd_leader":
        fault["duration"] = round(rng.uniform(1.0, node_ttl_s + ttl_s), 3)
    elif name == "client_partition":
        # Standalone: shorter than a renewal period twice over, so that no
        # renewing client can lose its lease; cluster: the clients go to
        # the other nodes meanwhile.
        fault["duration"] = round(rng.uniform(0.2, ttl_s / 3) if mode == "standalone"
                                  else rng.uniform(1.0, 2 * (ttl_s + node_ttl_s)), 3)
    elif name == "partition_node_etcd":
        fault["duration"] = round(rng.uniform(node_ttl_s / 2, 2 * (ttl_s + node_ttl_s)), 3)
    elif name == "compaction_while_lagging":
        fault["duration"] = round(rng.uniform(1.0, node_ttl_s), 3)
    elif name == "slow_node_etcd":
        fault["duration"] = round(rng.uniform(1.0, 2 * (ttl_s + node_ttl_s)), 3)
        fault["delay"] = round(rng.uniform(0.05, 0.5), 3)
    elif name == "flaky_node_etcd":
        fault["duration"] = round(rng.uniform(1.0, 2 * (ttl_s + node_ttl_s)), 3)
        fault["period"] = round(rng.uniform(0.1, 0.6), 3)
    elif name == "overload":
        fault["duration"] = round(rng.uniform(2.0, 2 * ttl_s + 2), 3)
    elif name in DISK:
        fault["duration"] = round(rng.uniform(0.5, ttl_s), 3)
    elif name == "rolling_restart":
        fault["duration"] = 0.0  # as long as it takes
    return fault


def inject(run, fault):
    """Injects `fault` and heals it; returns (start, end) on the run's clock."""
    time.sleep(fault["offset"])
    start = run.clock.now()
    INJECT[fault["name"]](run, fault)
    end = run.clock.now()
    run.log_fault("healed", fault["name"])
    return start, end


def _pause(run, seconds):
    run.sleep(seconds)


def kill9_restart(run, fault):
    """Standalone under --fsync always: kill -9 in mid-write (a client
    registering one instance after another, ten of them acknowledged), then
    a restart from the data dir; what it listed first is kept (recovered.json)."""
    node = run.nodes[0]
    acknowledged = threading.Event()
    burst = threading.Thread(target=_register_burst, args=(run, node, acknowledged), daemon=True)
    burst.start()
    acknowledged.wait(10)
    run.log_fault("kill -9", "node 0", pid=node.server.pid)
    node.kill()
    burst.join(10)
    _pause(run, fault["duration"])
    run.log_fault("restart", "node 0")
    node.start()
    run.record_recovered(node)


def _register_burst(run, node, acknowledged, count=200, set_after=10, until=None):
    """Registers burst-0, burst-1, ... one after another (TTL 60 s, recorded as
    the client "burst") until a call fails, or with `until` (an Event) until
    it is set, 10 ms apart; sets `acknowledged` after `set_after`."""
    history = History(run.clock, os.path.join(run.run_dir, "clients", "burst.jsonl"), "burst")
    channel = grpc.insecure_channel("127.0.0.1:%d" % node.port)
    stub = run.pb.registry_pb2_grpc.RegistryStub(channel)
    try:
        for i in itertools.count() if until is not None else range(count):
            if until is not None:
                if until.wait(0.01):
                    return
            instance = "burst-%d" % i
            with history.call("register", node=0, service="orders", instance=instance, ttl_ms=60000) as op:
                reply = stub.Register(run.pb.registry_pb2.RegisterRequest(
                    service="orders", instance_id=instance, address="10.7.0.%d:80" % (i % 250 + 1), ttl_ms=60000),
                    timeout=1)
                op.set(lease=reply.lease_id)
            if i + 1 == set_after:
                acknowledged.set()
            if op.fields["outcome"] != "ok" and until is None:
                return
    finally:
        acknowledged.set()
        channel.close()
        history.close()


def fsync_errors(run, fault):
    """Standalone under --fsync always: the data dir's fsync and fdatasync
    fail (libfiu) while a client registers one instance after another, and
    registryd is killed (-9) while they still fail, then restarted: what it
    acknowledged is back (recovered.json), so no failed sync was taken for
    a good one."""
    _failing_disk(run, fault, heal_first=False)


def write_errors(run, fault):
    """As fsync_errors, with half of registryd's write() calls failing (a
    record may be torn); the writes heal, and once registryd wrote again
    (a full snapshot), kill -9 and a restart: what it made meanwhile is
    durable too."""
    _failing_disk(run, fault, heal_first=True)


def _failing_disk(run, fault, heal_first):
    node = run.nodes[0]
    command, failpoints = DISK[fault["name"]]
    acknowledged, done = threading.Event(), threading.Event()
    burst = threading.Thread(target=_register_burst, args=(run, node, acknowledged),
                             kwargs={"until": done}, daemon=True)
    burst.start()
    acknowledged.wait(10)
    suffix = ",probability=0.5" if command == "enable_random" else ""
    for failpoint in failpoints:
        _fiu_ctrl(node, "%s name=%s%s" % (command, failpoint, suffix))
    run.log_fault(fault["name"], "node 0", failpoints=failpoints)
    _pause(run, fault["duration"])
    if heal_first:
        for failpoint in failpoints:
            _fiu_ctrl(node, "disable name=%s" % failpoint)
        run.log_fault("disk healed", "node 0")
        # The journal tries again with a full snapshot every round; once one
        # is written, what was made meanwhile is durable too.
        deadline = time.monotonic() + 10
        while _still_failing(node) and time.monotonic() < deadline:
            time.sleep(0.05)
        _pause(run, 0.5)
    done.set()
    burst.join(10)
    run.log_fault("kill -9", "node 0", pid=node.server.pid)
    node.kill()
    run.log_fault("restart", "node 0")
    node.start()  # a new process: no failpoint enabled
    run.record_recovered(node)


def _still_failing(node):
    log = node.log()
    return log.count("changes are not durable") > log.count("writing again")


def overload(run, fault):
    """Standalone: registryd falls far behind what it is offered. It runs at
    nice 19 (the harness starts it so for this fault), and for the fault's
    length registry_bench keeps both CPUs 97.5% busy beside it (as its
    overload scenario does) while offering 100 000 heartbeats a second from
    2 000 leases of its own (services bench-*): registryd gets a few percent
    of a CPU, its queues run late, and it must hold expiry: no client lease
    may be lost for it (the own-fault issue)."""
    node = run.nodes[0]
    seconds = fault["duration"]
    argv = [run.args.registry_bench, "--target", "127.0.0.1:%d" % node.port, "--scenario", "heartbeat",
            "--leases", "2000", "--rate", "100000", "--start-granularity", "1ms", "--concurrency", "4096",
            "--channels", "8", "--warmup", "0s", "--duration", "%dms" % int(seconds * 1000),
            "--server-cpus", "0-%d" % (os.cpu_count() - 1), "--busy-neighbour", str(OVERLOAD_NEIGHBOUR_BUSY)]
    run.log_fault("overload", "node 0", rate=100000, leases=2000)
    with open(os.path.join(run.run_dir, "overload.log"), "w") as log:
        load = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            load.wait(timeout=seconds + 60)  # its registrations first, then the load
        finally:
            if load.poll() is None:
                load.kill()
                load.wait()
    run.log_fault("load stopped", "node 0", code=load.returncode)


def _fiu_ctrl(node, command):
    subprocess.run(["fiu-ctrl", "-f", node.failpoint_control, "-c", command, str(node.server.pid)], check=True,
                   timeout=10)


def restart(run, fault):
    """Standalone: SIGTERM (a clean stop), then a restart from the data dir."""
    node = run.nodes[0]
    run.log_fault("SIGTERM", "node 0", pid=node.server.pid)
    node.stop()
    _pause(run, fault["duration"])
    run.log_fault("restart", "node 0")
    node.start()


def stall(run, fault):
    """registryd itself does not run (a VM pause, a debugger): SIGSTOP past the TTLs, then SIGCONT."""
    _stop_and_continue(run, run.nodes[0], "node 0", fault["duration"])


def sigstop_node(run, fault):
    """A zombie owner: a node stopped past the lease and node TTLs (the others
    take over its leases and sessions), then continued."""
    target = fault["target"]
    _stop_and_continue(run, run.nodes[target], "node %d" % target, fault["duration"])


def _stop_and_continue(run, node, name, seconds):
    run.log_fault("SIGSTOP", name, pid=node.server.pid)
    os.kill(node.server.pid, signal.SIGSTOP)
    try:
        _pause(run, seconds)
    finally:
        os.kill(node.server.pid, signal.SIGCONT)
        run.log_fault("SIGCONT", name, pid=node.server.pid)


def kill9_node(run, fault):
    target = fault["target"]
    node = run.nodes[target]
    run.log_fault("kill -9", "node %d" % target, pid=node.server.pid)
    node.kill()
    _pause(run, fault["duration"])
    run.log_fault("restart", "node %d" % target)
    node.start()


def rolling_restart(run, fault):
    """Every node in turn: SIGTERM (it leaves the cluster), then back, then the next."""
    for i, node in enumerate(run.nodes):
        run.log_fault("SIGTERM", "node %d" % i, pid=node.server.pid)
        node.stop()
        run.log_fault("restart", "node %d" % i)
        node.start()


def _member_down(run, member, seconds, how):
    etcd = run.etcd
    if how == "kill":
        run.log_fault("kill -9", "etcd %d" % member, pid=etcd.procs[member].pid)
        etcd.kill(member)
        _pause(run, seconds)
        run.log_fault("restart", "etcd %d" % member)
        etcd.start(member)
        etcd.wait_healthy(member)
    else:
        pid = etcd.procs[member].pid
        run.log_fault("SIGSTOP", "etcd %d" % member, pid=pid)
        os.kill(pid, signal.SIGSTOP)
        try:
            _pause(run, seconds)
        finally:
            os.kill(pid, signal.SIGCONT)
            run.log_fault("SIGCONT", "etcd %d" % member, pid=pid)


def _leader(run):
    for _ in range(50):
        leader = run.etcd.leader()
        if leader is not None:
            return leader
        time.sleep(0.1)
    return 0


def kill_etcd_member(run, fault):
    leader = _leader(run)
    member = next(i for i in range(3) if i != leader and (i - leader) % 3 == 1 + fault["target"] % 2)
    _member_down(run, member, fault["duration"], "kill")


def kill_etcd_leader(run, fault):
    _member_down(run, _leader(run), fault["duration"], "kill")


def sigstop_etcd_leader(run, fault):
    _member_down(run, _leader(run), fault["duration"], "stop")


@contextlib.contextmanager
def _node_etcd_link(run, target, action, change):
    """Applies `change` to each of node `target`'s etcd proxies (logged as
    `action`) for the body's length, then restores them."""
    run.log_fault(action, "node %d <-> etcd" % target)
    for proxy in run.etcd_proxies[target]:
        change(proxy)
    try:
        yield
    finally:
        for proxy in run.etcd_proxies[target]:
            proxy.restore()
        run.log_fault("restore", "node %d <-> etcd" % target)


def partition_node_etcd(run, fault):
    """A node cut off from every etcd member (its proxies close every
    connection and refuse new ones); clients still reach it."""
    with _node_etcd_link(run, fault["target"], "cut", lambda proxy: proxy.cut()):
        _pause(run, fault["duration"])


def client_partition(run, fault):
    """Every client cut off from node 0 (the nodes still reach each other)."""
    run.log_fault("cut", "clients <-> node 0")
    run.client_proxy.cut()
    try:
        _pause(run, fault["duration"])
    finally:
        run.client_proxy.restore()
        run.log_fault("restore", "clients <-> node 0")


def compaction_while_lagging(run, fault):
    """A node's link to etcd stalls (its watch lags), etcd compacts past
    what it saw, then the link flows again: the node must load again."""
    with _node_etcd_link(run, fault["target"], "pause", lambda proxy: proxy.pause()):
        _pause(run, fault["duration"] / 2)
        revision = run.etcd.revision()
        run.etcd.compact(revision)
        run.log_fault("compact", "etcd", revision=revision)
        _pause(run, fault["duration"] / 2)


def slow_node_etcd(run, fault):
    """A node's link to etcd is slow: every chunk each way waits `delay`."""
    with _node_etcd_link(run, fault["target"], "delay %.3f s" % fault["delay"],
                         lambda proxy: proxy.delay(fault["delay"])):
        _pause(run, fault["duration"])


def flaky_node_etcd(run, fault):
    """A node's link to etcd drops out and back every `period` (bytes held
    while it is out, as by a link losing every packet for a while)."""
    target = fault["target"]
    end = time.monotonic() + fault["duration"]
    with _node_etcd_link(run, target, "flapping every %.3f s" % fault["period"], lambda proxy: None):
        while time.monotonic() < end:
            for proxy in run.etcd_proxies[target]:
                proxy.pause()
            _pause(run, fault["period"])
            for proxy in run.etcd_proxies[target]:
                proxy.restore()
            _pause(run, fault["period"])


INJECT = {name: globals()[name] for name in STANDALONE + CLUSTER}
