#!/usr/bin/python3
"""registryd's DNS face against NSD (issue #28; docs/PERFORMANCE.md "DNS").

Starts registryd with a service `orders` of 8 instances (--instances), and
Debian's NSD serving a static zone of the same records, both on --server-cpu;
checks that both answer the same record sets; then, each round:

  queries       Debian's dnsperf on --client-cpu sends SRV, then A queries for
                orders.service.registryd. to NSD and to registryd, one after
                the other (issue's target: registryd at least 0.8x NSD's queries/s)
  changing      the same to registryd while this process, on --client-cpu,
                changes `orders` 100 times a second (--change: an instance's
                overloaded flag flips, or one more instance comes and goes;
                target: at most 10% below unchanged)
  registration  registry_bench's register churn against a second registryd,
                alone, beside dnsperf at full rate on its DNS face, and beside
                the same load on NSD (target: at least 0.9x alone)

Every ratio is taken within a round; with --repeat, the target lines give
the median round and the range. Each measurement reads the CPU time of every
process it ran and of the two CPUs, so other work on the machine shows (the
`others` column, in CPUs); one during which it took more than --max-others is
made again, at most --retries times.

Prints a table and one line per target; --json prints one object per
measurement instead, then one per target.

Usage: /usr/bin/python3 bench/dns_bench.py [--duration 10] [--repeat 3] [--json]
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "interop"))

import dns.exception  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rdatatype  # noqa: E402
import grpc  # noqa: E402

import stubs  # noqa: E402
from registry_process import ServerProcess, wait_for  # noqa: E402

DOMAIN = "registryd."
SERVICE = "orders"
SERVICE_NAME = "%s.service.%s" % (SERVICE, DOMAIN)
SRV_NAME = "_%s._tcp.service.%s" % (SERVICE, DOMAIN)  # RFC 2782's form, HAProxy's
QUERY_TYPES = ("SRV", "A")
CHANGES_PER_SECOND = 100
LEASE_TTL_MS = 3_600_000  # registryd's default --max-ttl: no renewal needed within a run
RPC_TIMEOUT = 10
DNS_TIMEOUT = 2
DNSPERF_TIMEOUT = 2  # seconds before a query counts as lost, and dnsperf's wait for them at the end
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
POLL_SYSCALL = 7  # x86_64

TARGETS = {  # the issue's, as ratios of the median round
    "queries": 0.8,
    "changing": 0.9,
    "registration": 0.9,
}


def instance(number):
    """(instance id, address, port) of instance `number` (1-based)."""
    return "%s-%d" % (SERVICE, number), "127.0.0.%d" % (10 + number), 9000 + number


def target_name(instance_id):
    return "%s.%s.instance.%s" % (instance_id, SERVICE, DOMAIN)


# --- processes and their CPU ---------------------------------------------------

def stat_fields(path):
    """The fields of a /proc stat file after the command name, which may hold
    spaces (NSD renames its processes "nsd: server 1")."""
    with open(path) as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(path):
    fields = stat_fields(path)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def process_tree(root):
    """root and every process descended from it (NSD forks its server)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children.setdefault(int(stat_fields("/proc/%s/stat" % entry)[1]), []).append(int(entry))
            except (OSError, IndexError):
                pass  # gone meanwhile
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_cpu_seconds(root):
    total = 0.0
    for pid in process_tree(root):
        try:
            total += cpu_seconds("/proc/%d/stat" % pid)
        except OSError:
            pass
    return total


def cpu_busy_seconds(cpu):
    """Time CPU `cpu` ran anything (or was taken by the hypervisor: steal), by /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu%d " % cpu):
                user, nice, system, idle, iowait, irq, softirq, steal = map(int, line.split()[1:9])
                return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS
    raise RuntimeError("no cpu%d in /proc/stat" % cpu)


def pin_tree(root, cpu):
    for pid in process_tree(root):
        for tid in os.listdir("/proc/%d/task" % pid):
            os.sched_setaffinity(int(tid), {cpu})


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue


class Registryd:
    """registryd on --server-cpu, one completion-queue thread, its data in a fresh
    directory (as deployed), the HTTP face off, and `orders` registered."""

    def __init__(self, args, pb, work_dir, name):
        data_dir = os.path.join(work_dir, name + ".data")
        os.mkdir(data_dir)
        self.server = ServerProcess(["taskset", "-c", str(args.server_cpu), args.registryd,
                                     "--listen", "127.0.0.1:0", "--threads", "1", "--data-dir", data_dir,
                                     "--dns-listen", "127.0.0.1:0", "--dns-domain", DOMAIN, "--http-listen", ""])
        self.server.wait_listening()
        match = re.search(r"DNS face on 127\.0\.0\.1:(\d+)", self.server.stderr_text())
        if not match:
            raise RuntimeError("registryd named no DNS port:\n" + self.server.stderr_text())
        self.dns_port = int(match.group(1))
        self.channel = grpc.insecure_channel(self.server.address)
        self.pb = pb
        self.stub = pb.registry_pb2_grpc.RegistryStub(self.channel)
        self.leases = {number: self.register(number) for number in range(1, args.instances + 1)}
        self.dns_threads = self.find_dns_threads()

    def register(self, number):
        instance_id, host, port = instance(number)
        return self.stub.Register(self.pb.registry_pb2.RegisterRequest(
            service=SERVICE, instance_id=instance_id, address="%s:%d" % (host, port), ttl_ms=LEASE_TTL_MS),
            timeout=RPC_TIMEOUT).lease_id

    def deregister(self, lease_id):
        self.stub.Deregister(self.pb.registry_pb2.DeregisterRequest(lease_id=lease_id), timeout=RPC_TIMEOUT)

    def heartbeat(self, number, overloaded):
        self.stub.Heartbeat(self.pb.registry_pb2.HeartbeatRequest(lease_id=self.leases[number], overloaded=overloaded),
                            timeout=RPC_TIMEOUT)

    @property
    def pid(self):
        return self.server.pid

    def cpu_seconds(self):
        return cpu_seconds("/proc/%d/stat" % self.pid)

    def find_dns_threads(self):
        """registryd's threads are unnamed; the DNS face's two (UDP and TCP)
        are the only ones that wait in poll(2): gRPC's and the journal's wait
        in epoll_wait or on futexes."""
        found = []
        for tid in os.listdir("/proc/%d/task" % self.pid):
            with open("/proc/%d/task/%s/syscall" % (self.pid, tid)) as f:
                if f.read().split()[0] == str(POLL_SYSCALL):
                    found.append(int(tid))
        if len(found) != 2:
            raise RuntimeError("expected registryd's 2 DNS threads in poll(2), found %d" % len(found))
        return found

    def dns_threads_cpu_seconds(self):
        return sum(cpu_seconds("/proc/%d/task/%d/stat" % (self.pid, tid)) for tid in self.dns_threads)

    def stop(self):
        self.channel.close()
        self.server.stop()


ZONE_HEAD = """$ORIGIN {domain}
$TTL 0
@ IN SOA ns.{domain} hostmaster.{domain} 1 3600 600 86400 0
"""

NSD_CONF = """server:
  server-count: 1
  ip-address: 127.0.0.1@{port}
  username: ""
  chroot: ""
  zonesdir: "{dir}"
  database: ""
  zonelistfile: "{dir}/zone.list"
  xfrdfile: "{dir}/xfrd.state"
  xfrdir: "{dir}"
  pidfile: "{dir}/nsd.pid"
  logfile: "{dir}/nsd.log"
  # Loopback floods from one address are the point here, not an attack.
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: "{domain}"
  zonefile: "{dir}/zone"
"""


class Nsd:
    """Debian's NSD, one server process, on --server-cpu, serving registryd's records
    for `orders` as a static zone (registryd's SRV weight for weight 1 is 255,
    its TTL 0, its SOA timers 3600 600 86400 and minimum = TTL)."""

    def __init__(self, args, work_dir):
        self.dir = os.path.join(work_dir, "nsd")
        os.mkdir(self.dir)
        lines = [ZONE_HEAD.format(domain=DOMAIN)]
        for number in range(1, args.instances + 1):
            instance_id, host, port = instance(number)
            for owner in (SERVICE_NAME, SRV_NAME):
                lines.append("%s IN SRV 0 255 %d %s\n" % (owner, port, target_name(instance_id)))
            lines.append("%s IN A %s\n" % (SERVICE_NAME, host))
            lines.append("%s IN A %s\n" % (target_name(instance_id), host))
        with open(os.path.join(self.dir, "zone"), "w") as f:
            f.writelines(lines)
        for _ in range(5):  # the port may be taken between free_port and NSD's bind
            self.dns_port = free_port()
            with open(os.path.join(self.dir, "nsd.conf"), "w") as f:
                f.write(NSD_CONF.format(port=self.dns_port, dir=self.dir, domain=DOMAIN))
            self.log = open(os.path.join(self.dir, "stderr"), "w")
            self.proc = subprocess.Popen(["taskset", "-c", str(args.server_cpu), args.nsd, "-d", "-c",
                                          os.path.join(self.dir, "nsd.conf")],
                                         stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
            if wait_for(lambda: self.proc.poll() is not None or ask(self.dns_port, DOMAIN, "SOA") is not None):
                if self.proc.poll() is None:
                    return
            self.stop()
        raise RuntimeError("NSD did not start; its log:\n" + self.log_text())

    def log_text(self):
        text = ""
        for name in ("stderr", "nsd.log"):
            path = os.path.join(self.dir, name)
            if os.path.exists(path):
                with open(path) as f:
                    text += f.read()
        return text

    @property
    def pid(self):
        return self.proc.pid

    def cpu_seconds(self):
        return tree_cpu_seconds(self.pid)

    def stop(self):
        tree = process_tree(self.pid) if self.proc.poll() is None else []
        if tree:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in tree[1:]:  # its main and server processes, should they outlive it
            try:
                with open("/proc/%d/comm" % pid) as f:
                    if f.read().startswith("nsd"):
                        os.kill(pid, signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError):
                pass
        self.log.close()


# --- the same records from both ------------------------------------------------

def ask(port, name, rdtype, edns=False):
    """The answer to one query, or None. Without EDNS0 as dnsperf asks; with
    it, 1232 bytes (SRV answers then carry their targets' addresses)."""
    query = dns.message.make_query(name, rdtype, use_edns=edns, payload=1232)
    try:
        return dns.query.udp(query, "127.0.0.1", port=port, timeout=DNS_TIMEOUT)
    except (dns.exception.Timeout, OSError):
        return None


def record_sets(answer):
    """What an answer says, order aside (registryd rotates its records); an
    SOA's serial left out (registryd's is its revision)."""
    if answer is None:
        return None

    def section(rrsets):
        records = []
        for rrset in rrsets:
            for rdata in rrset:
                if rdata.rdtype == dns.rdatatype.SOA:
                    rdata = rdata.replace(serial=0)
                records.append("%s %d %s" % (rrset.name, rrset.ttl, rdata.to_text()) + " " +
                               dns.rdatatype.to_text(rdata.rdtype))
        return sorted(records)

    return {"rcode": answer.rcode(), "flags": dns.flags.to_text(answer.flags), "edns": answer.edns,
            "payload": answer.payload if answer.edns >= 0 else None, "answer": section(answer.answer),
            "authority": section(answer.authority), "additional": section(answer.additional)}


def compare_records(registryd_port, nsd_port, instances, edns_only):
    questions = [(SERVICE_NAME, "SRV"), (SRV_NAME, "SRV"), (SERVICE_NAME, "A"),
                 (DOMAIN, "SOA")]
    questions += [(target_name(instance(n)[0]), "A") for n in range(1, instances + 1)]
    differences = []
    for name, rdtype in questions:
        for edns in (True,) if edns_only else (False, True):
            ours = record_sets(ask(registryd_port, name, rdtype, edns))
            theirs = record_sets(ask(nsd_port, name, rdtype, edns))
            if ours is None or ours != theirs:
                differences.append({"question": "%s %s%s" % (name, rdtype, " (EDNS0)" if edns else ""),
                                    "registryd": ours, "nsd": theirs})
    return {"measurement": "same-records", "questions": len(questions), "edns_only": edns_only,
            "identical": not differences,
            "differences": differences}


# --- dnsperf -------------------------------------------------------------------

DNSPERF_FIELDS = {
    "queries_sent": r"Queries sent:\s+(\d+)",
    "queries_completed": r"Queries completed:\s+(\d+)",
    "queries_lost": r"Queries lost:\s+(\d+)",
    "queries_per_s": r"Queries per second:\s+([\d.]+)",
    "run_seconds": r"Run time \(s\):\s+([\d.]+)",
}


class Dnsperf:
    """dnsperf on the client CPU sending one query file's queries to a port,
    for `seconds` or until stop()."""

    def __init__(self, args, port, query_file, seconds):
        self.output = tempfile.TemporaryFile(mode="w+")
        self.command = ["taskset", "-c", str(args.client_cpu), args.dnsperf, "-s", "127.0.0.1", "-p", str(port),
                        "-d", query_file, "-l", "%g" % seconds, "-c", str(args.dnsperf_clients),
                        "-T", str(args.dnsperf_threads), "-q", str(args.dnsperf_outstanding),
                        "-t", str(DNSPERF_TIMEOUT)] + (["-e"] if args.edns else [])
        self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=self.output,
                                     stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # it stops sending and reports what it measured

    def result(self):
        self.proc.wait(timeout=60)
        self.output.seek(0)
        text = self.output.read()
        self.output.close()
        figures = {}
        for key, pattern in DNSPERF_FIELDS.items():
            match = re.search(pattern, text)
            if self.proc.returncode != 0 or not match:
                raise RuntimeError("dnsperf failed (%s): %s\n%s" % (self.proc.returncode, " ".join(self.command),
                                                                     text))
            figures[key] = float(match.group(1)) if "." in match.group(1) else int(match.group(1))
        noerror = re.search(r"NOERROR (\d+)", text)
        figures["noerror"] = int(noerror.group(1)) if noerror else 0
        return figures


class ServiceChanger:
    """Changes `orders` `rate` times a second on a fixed schedule; calls that
    come late are made at once (the achieved rate is reported). `overload`
    flips its first instance's overloaded flag (a heartbeat: SRV priority 1,
    left out of A), so it keeps its instances; `membership` registers one
    more instance, deregisters it, and so on."""

    def __init__(self, registryd, rate, change):
        self.registryd, self.rate, self.change = registryd, rate, change
        self.changes = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name="service-changer", daemon=True)
        self.error = None

    def start(self):
        self.started = time.monotonic()
        self.thread.start()

    def change_once(self):
        if self.change == "overload":
            self.registryd.heartbeat(1, overloaded=self.changes % 2 == 0)
        elif self.changes % 2 == 0:
            self.lease = self.registryd.register(len(self.registryd.leases) + 1)
        else:
            self.registryd.deregister(self.lease)

    def run(self):
        try:
            while not self.stopping.is_set():
                delay = self.started + self.changes / self.rate - time.monotonic()
                if delay > 0 and self.stopping.wait(delay):
                    break
                self.change_once()
                self.changes += 1
            if self.changes % 2 == 1:
                self.change_once()  # back to what NSD serves
        except grpc.RpcError as error:
            self.error = error

    def stop(self):
        self.stopping.set()
        self.thread.join()
        seconds = time.monotonic() - self.started
        if self.error is not None:
            raise RuntimeError("changing the service failed: %s" % self.error)
        return self.changes / seconds


# --- measurements --------------------------------------------------------------

def udp_receive_buffer_errors():
    """The kernel's count of datagrams dropped for a full socket receive buffer (every socket)."""
    with open("/proc/net/snmp") as f:
        header, values = [line.split() for line in f if line.startswith("Udp:")][:2]
    return int(values[header.index("RcvbufErrors")])


class CpuWindow:
    """CPU time over the measured part of a run: of named processes or
    threads, of everything this bench runs (`own`: this process and the
    trees of `roots`), and of the two CPUs whatever ran on them, so that
    other work on the machine shows (a few % of accounting noise remains
    without any)."""

    def __init__(self, args, roots, named):
        self.args, self.roots, self.named = args, roots, named
        self.samples = []

    def sample(self):
        own = cpu_seconds("/proc/self/stat") + sum(tree_cpu_seconds(pid) for pid in self.roots)
        both = cpu_busy_seconds(self.args.server_cpu) + cpu_busy_seconds(self.args.client_cpu)
        self.samples.append((time.monotonic(), {name: read() for name, read in self.named.items()}, own, both))

    def sample_at(self, when):
        time.sleep(max(0.0, when - time.monotonic()))
        self.sample()

    def busy(self):
        """({name: CPUs busy}, CPUs the rest of the machine took), between the first and last sample."""
        (t0, named0, own0, both0), (t1, named1, own1, both1) = self.samples[0], self.samples[-1]
        seconds = t1 - t0
        return ({name: (named1[name] - named0[name]) / seconds for name in named0},
                ((both1 - both0) - (own1 - own0)) / seconds)


def measure_queries(args, servers, server, name, rdtype, query_file, round_number, changer_rate=0):
    """dnsperf for --duration against `server`; CPU is read over the middle
    80% of the run (dnsperf's start, and its wait for lost queries at the
    end, left out)."""
    drops_before = udp_receive_buffer_errors()
    changer = None
    if changer_rate:
        changer = ServiceChanger(server, changer_rate, args.change)
        changer.start()
    started = time.monotonic()
    perf = Dnsperf(args, server.dns_port, query_file, args.duration)
    named = {"server": server.cpu_seconds, "dnsperf": lambda: tree_cpu_seconds(perf.proc.pid)}
    if name == "registryd":
        named["dns_threads"] = server.dns_threads_cpu_seconds
    window = CpuWindow(args, [s.pid for s in servers] + [perf.proc.pid], named)
    for at in (0.1, 0.9):
        window.sample_at(started + at * args.duration)
    figures = perf.result()
    changes = changer.stop() if changer else 0.0
    busy, others = window.busy()
    per_query = 1e6 / max(figures["queries_per_s"], 1)
    result = {"measurement": "changing" if changer_rate else "queries", "round": round_number, "server": name,
              "type": rdtype, "changes_per_s": round(changes, 1), "change": args.change if changer_rate else None,
              **figures,
              "udp_receive_buffer_drops": udp_receive_buffer_errors() - drops_before,
              "server_cpu_busy": round(busy["server"], 3),
              "server_cpu_us_per_query": round(busy["server"] * per_query, 2),
              "dnsperf_cpu_busy": round(busy["dnsperf"], 3), "others_cpu": round(others, 3)}
    if "dns_threads" in busy:  # registryd: its DNS face's share (the rest: its queue, journal, timers)
        result["dns_threads_cpu_us_per_query"] = round(busy["dns_threads"] * per_query, 2)
    return result


def measure_registration(args, servers, registryd, beside, round_number, nsd, query_file):
    """registry_bench's register churn against `registryd`, from the server
    CPU (beside registryd's queue and journal threads, in every phase);
    `beside`: nothing, dnsperf at full rate on registryd's DNS face, or the
    same dnsperf against NSD, moved to where registryd's DNS threads are."""
    perf = None
    seconds = args.warmup + args.duration
    if beside == "registryd-dns":
        perf = Dnsperf(args, registryd.dns_port, query_file, seconds + 30)  # stopped when registry_bench is done
    elif beside == "nsd-dns":
        pin_tree(nsd.pid, args.registration_dns_cpu)
        perf = Dnsperf(args, nsd.dns_port, query_file, seconds + 30)
    command = ["taskset", "-c", str(args.server_cpu), args.registry_bench, "--target", registryd.server.address,
               "--scenario", "register", "--api", "native", "--duration", "%gs" % args.duration,
               "--warmup", "%gs" % args.warmup, "--json"]
    started = time.monotonic()
    try:
        with tempfile.TemporaryFile(mode="w+") as output:
            bench = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
            roots = [s.pid for s in servers] + [bench.pid] + ([perf.proc.pid] if perf else [])
            window = CpuWindow(args, roots, {"dns_threads": registryd.dns_threads_cpu_seconds})
            try:
                for at in (0.1, 0.9):  # of its measured part, after the warmup
                    window.sample_at(started + args.warmup + at * args.duration)
                bench.wait(timeout=seconds + 120)
            finally:
                if bench.poll() is None:
                    bench.kill()
                    bench.wait()
            output.seek(0)
            text = output.read()
    finally:
        if perf:
            perf.stop()
        if beside == "nsd-dns":
            pin_tree(nsd.pid, args.server_cpu)
    if bench.returncode != 0:
        raise RuntimeError("registry_bench failed (%d): %s\n%s" % (bench.returncode, " ".join(command), text))
    phase = json.loads(text.splitlines()[-1])
    busy, others = window.busy()
    result = {"measurement": "registration", "round": round_number, "beside": beside,
              "registration_dns": args.registration_dns, "registrations_per_s": phase["ops_per_s"],
              "register_calls": phase["ops"], "register_errors": phase["errors"], "register_p99_us": phase["p99_us"],
              "registryd_dns_threads_cpu_busy": round(busy["dns_threads"], 3), "others_cpu": round(others, 3)}
    if perf:
        figures = perf.result()
        result["dns_queries_per_s"] = figures["queries_per_s"]
        result["dns_queries_completed"] = figures["queries_completed"]
    return result


def measured(args, attempt):
    """attempt() again, up to --retries times, while other work took more than
    --max-others of the two CPUs; the last result, with its attempts."""
    for attempts in range(1, args.retries + 2):
        result = attempt()
        if result["others_cpu"] <= args.max_others:
            break
    result["attempts"] = attempts
    return result


# --- report --------------------------------------------------------------------

def spread(values):
    values = sorted(values)
    if len(values) == 1:
        return "%.2fx" % values[0]
    return "median %.2fx (%.2f-%.2f)" % (values[len(values) // 2], values[0], values[-1])


def median(values):
    return sorted(values)[len(values) // 2]


class Ratio:
    """One comparison's ratio in every round. Rounds in which either side
    still had other work beside it past --max-others (after its retries)
    are left out while any round had none."""

    def __init__(self):
        self.clean, self.every = [], []

    def add(self, value, clean):
        self.every.append(value)
        if clean:
            self.clean.append(value)

    def values(self):
        return self.clean or self.every

    def text(self):
        text = spread(self.values())
        if len(self.clean) < len(self.every):
            text += (" (%d of %d rounds: the others had other work beside them)" % (len(self.clean), len(self.every))
                     if self.clean else " (every round had other work beside it)")
        return text


def ratios(results, args):
    """{label: Ratio}, every ratio taken within one round."""
    rows = {}
    for r in results:
        if r["measurement"] in ("queries", "changing"):
            rows[(r["round"], r["measurement"], r["server"], r["type"])] = r
        elif r["measurement"] == "registration":
            rows[(r["round"], "registration", r["beside"])] = r
    found = {}

    def add(label, numerator, denominator, figure):
        if numerator and denominator:
            clean = max(numerator["others_cpu"], denominator["others_cpu"]) <= args.max_others
            found.setdefault(label, Ratio()).add(numerator[figure] / denominator[figure], clean)

    for number in range(1, args.repeat + 1):
        for rdtype in QUERY_TYPES:
            nsd = rows.get((number, "queries", "nsd", rdtype))
            ours = rows.get((number, "queries", "registryd", rdtype))
            changing = rows.get((number, "changing", "registryd", rdtype))
            add("registryd/nsd %s: queries/s" % rdtype, ours, nsd, "queries_per_s")
            add("registryd/nsd %s: server CPU per query" % rdtype, ours, nsd, "server_cpu_us_per_query")
            add("changing/unchanged registryd %s: queries/s" % rdtype, changing, ours, "queries_per_s")
            add("changing/unchanged registryd %s: server CPU per query" % rdtype, changing, ours,
                "server_cpu_us_per_query")
            add("changing/unchanged registryd %s: DNS threads' CPU per query" % rdtype, changing, ours,
                "dns_threads_cpu_us_per_query")
            add("changing registryd/nsd %s: queries/s" % rdtype, changing, nsd, "queries_per_s")
        alone = rows.get((number, "registration", "none"))
        add("registrations/s beside registryd's DNS face at full rate / alone",
            rows.get((number, "registration", "registryd-dns")), alone, "registrations_per_s")
        add("registrations/s beside NSD at full rate / alone",
            rows.get((number, "registration", "nsd-dns")), alone, "registrations_per_s")
    return found


def targets(results, found, args):
    """The issue's targets, judged by the median round."""
    lines = []

    def judge(name, label, at_least, note=""):
        if label in found:
            ratio = found[label]
            values = ratio.values()
            lines.append({"measurement": "target", "target": name, "at_least": at_least,
                          "ratio": round(median(values), 3), "min": round(min(values), 3),
                          "max": round(max(values), 3), "rounds": len(values), "rounds_measured": len(ratio.every),
                          "met": median(values) >= at_least, "note": note})

    for rdtype in QUERY_TYPES:
        busy = [r["server_cpu_busy"] for r in results if r["measurement"] == "queries" and r["server"] == "nsd"
                and r["type"] == rdtype and r["others_cpu"] <= args.max_others]
        note = ""
        if busy and median(busy) < 0.9:
            note = "NSD's CPU %d%% busy: dnsperf, not NSD, set its rate" % round(median(busy) * 100)
        judge("%s queries/s registryd/nsd" % rdtype, "registryd/nsd %s: queries/s" % rdtype, TARGETS["queries"], note)
    for rdtype in QUERY_TYPES:
        judge("%s queries/s with %d changes/s / unchanged" % (rdtype, CHANGES_PER_SECOND),
              "changing/unchanged registryd %s: queries/s" % rdtype, TARGETS["changing"])
    judge("registrations/s beside full DNS load / alone",
          "registrations/s beside registryd's DNS face at full rate / alone", TARGETS["registration"])
    return lines


QUERIES_HEADER = ("round measurement  server    type changes/s  queries/s   lost  rcvbuf drops  server busy  "
                  "us/query  DNS threads' us/query  dnsperf busy  others  attempts")
REGISTRATION_HEADER = ("round beside          registrations/s   p99 us  DNS queries/s beside  "
                       "registryd DNS threads busy  others  attempts")


def print_row(r):
    if r["measurement"] in ("queries", "changing"):
        changes = "%.1f" % r["changes_per_s"] if r["measurement"] == "changing" else "-"
        face = "%.2f" % r["dns_threads_cpu_us_per_query"] if "dns_threads_cpu_us_per_query" in r else "-"
        print("%-5d %-12s %-9s %-4s %9s %10.0f %6d %13d %11.0f%% %9.2f %22s %12.0f%% %6.0f%% %9d" % (
            r["round"], r["measurement"], r["server"], r["type"], changes, r["queries_per_s"], r["queries_lost"],
            r["udp_receive_buffer_drops"], r["server_cpu_busy"] * 100, r["server_cpu_us_per_query"], face,
            r["dnsperf_cpu_busy"] * 100, r["others_cpu"] * 100, r["attempts"]))
    elif r["measurement"] == "registration":
        print("%-5d %-15s %15.0f %8d %21s %26.0f%% %6.0f%% %9d" % (
            r["round"], r["beside"], r["registrations_per_s"], r["register_p99_us"],
            "%.0f" % r["dns_queries_per_s"] if "dns_queries_per_s" in r else "-",
            r["registryd_dns_threads_cpu_busy"] * 100, r["others_cpu"] * 100, r["attempts"]))
    sys.stdout.flush()


def print_summary(results, found, target_lines, args):
    registrations = [r for r in results if r["measurement"] == "registration"]
    if registrations:
        print()
        print("registration: registry_bench --scenario register, registryd's DNS threads on CPU %d"
              % args.registration_dns_cpu)
        print(REGISTRATION_HEADER)
        for r in registrations:
            print_row(r)
    print()
    for label, ratio in found.items():
        print("ratio %s %s" % (label, ratio.text()))
    for t in target_lines:
        rounds = "" if t["rounds"] == t["rounds_measured"] else ", %d of %d rounds" % (t["rounds"],
                                                                                       t["rounds_measured"])
        # Three decimals: a median just under the bound must not print as the bound itself.
        print("target %s at least %.2fx: %.3fx (%.3f-%.3f%s): %s%s" % (
            t["target"], t["at_least"], t["ratio"], t["min"], t["max"], rounds, "met" if t["met"] else "MISSED",
            " (%s)" % t["note"] if t["note"] else ""))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registryd", default=os.path.join(REPO, "build", "src", "registryd"))
    parser.add_argument("--registry-bench", default=os.path.join(REPO, "build", "bench", "registry_bench"))
    parser.add_argument("--nsd", default="/usr/sbin/nsd")
    parser.add_argument("--dnsperf", default="/usr/bin/dnsperf")
    parser.add_argument("--protos", default=os.path.join(REPO, "protos"))
    parser.add_argument("--protoc", default="/usr/bin/protoc")
    parser.add_argument("--grpc-python-plugin", default="/usr/bin/grpc_python_plugin")
    parser.add_argument("--duration", type=float, default=10, help="seconds of each measurement")
    parser.add_argument("--warmup", type=float, default=2, help="registry_bench's unmeasured seconds first")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; ratios are taken within a round")
    parser.add_argument("--server-cpu", type=int, default=1, help="registryd, NSD")
    parser.add_argument("--client-cpu", type=int, default=0, help="dnsperf, this process")
    parser.add_argument("--measure", default="queries,changing,registration",
                        help="comma-separated: queries, changing, registration")
    parser.add_argument("--instances", type=int, default=8, help="instances of the service")
    parser.add_argument("--srv-names", choices=("service", "both"), default="service",
                        help="SRV queries: for %s only, or for it and %s in turn" % (SERVICE_NAME, SRV_NAME))
    parser.add_argument("--edns", action="store_true",
                        help="dnsperf sends EDNS0 (answers up to 1232 bytes: SRV answers carry their targets' "
                             "addresses); without it, answers fit 512 bytes, and NSD and registryd truncate "
                             "differently (both as the RFCs allow) when they do not")
    parser.add_argument("--change", choices=("overload", "membership"), default="overload",
                        help="changing: how the service changes (flip an instance's overloaded flag; "
                             "register and deregister one more instance)")
    parser.add_argument("--registration-dns", choices=("own-cpu", "shared-cpu"), default="own-cpu",
                        help="registration: registryd's DNS threads on the client CPU, a CPU of their own "
                             "(default: the face has threads of its own), or on the server CPU with its queue")
    parser.add_argument("--dnsperf-clients", type=int, default=4, help="dnsperf -c: sockets")
    parser.add_argument("--dnsperf-threads", type=int, default=2, help="dnsperf -T")
    parser.add_argument("--dnsperf-outstanding", type=int, default=200, help="dnsperf -q: queries in flight")
    parser.add_argument("--max-others", type=float, default=0.15,
                        help="a measurement during which other work took more of the two CPUs than this "
                             "(in CPUs) is made again")
    parser.add_argument("--retries", type=int, default=2, help="at most this many times")
    parser.add_argument("--json", action="store_true", help="one JSON object per line instead of the table")
    args = parser.parse_args()
    args.measure = set(args.measure.split(","))
    unknown = args.measure - {"queries", "changing", "registration"}
    if unknown:
        parser.error("--measure: unknown %s" % ", ".join(sorted(unknown)))
    if args.server_cpu == args.client_cpu:
        parser.error("--server-cpu and --client-cpu must differ")
    args.registration_dns_cpu = args.client_cpu if args.registration_dns == "own-cpu" else args.server_cpu
    return args


def main():
    args = parse_args()
    os.sched_setaffinity(0, {args.client_cpu})  # this process, its gRPC threads and the changer
    work = tempfile.TemporaryDirectory(prefix="dns_bench_")
    stub_dir = os.path.join(work.name, "stubs")
    os.mkdir(stub_dir)
    pb = stubs.generate(args.protos, args.protoc, args.grpc_python_plugin, stub_dir)
    query_files = {}
    for rdtype in QUERY_TYPES:
        query_files[rdtype] = os.path.join(work.name, rdtype + ".queries")
        with open(query_files[rdtype], "w") as f:
            names = [SERVICE_NAME]
            if rdtype == "SRV" and args.srv_names == "both":
                names.append(SRV_NAME)
            f.writelines("%s %s\n" % (name, rdtype) for name in names)

    started = []  # stopped in reverse, whatever happens
    results = []

    def emit(result):
        results.append(result)
        if args.json:
            print(json.dumps(result), flush=True)
        elif result["measurement"] in ("queries", "changing"):
            print_row(result)

    try:
        registryd = Registryd(args, pb, work.name, "registryd")
        started.append(registryd)
        nsd = Nsd(args, work.name)
        started.append(nsd)
        # As dnsperf will ask, and with EDNS0 (SRV answers then carry their targets' addresses).
        same = compare_records(registryd.dns_port, nsd.dns_port, args.instances, edns_only=args.edns)
        if args.json:
            emit(same)
        else:
            print("same records from registryd and NSD (%d questions, %s): %s" % (
                same["questions"], "with EDNS0" if args.edns else "with and without EDNS0",
                "yes" if same["identical"] else "NO"))
            for difference in same["differences"]:
                print("  %s\n    registryd: %s\n    nsd:       %s" % (
                    difference["question"], difference["registryd"], difference["nsd"]))
            print(QUERIES_HEADER)
            sys.stdout.flush()
        if not same["identical"]:
            raise SystemExit("registryd and NSD answer differently: nothing measured")
        registration_server = None
        if "registration" in args.measure:
            registration_server = Registryd(args, pb, work.name, "registryd-registrations")
            started.append(registration_server)
            for tid in registration_server.dns_threads:
                os.sched_setaffinity(tid, {args.registration_dns_cpu})

        servers = list(started)
        for round_number in range(1, args.repeat + 1):
            # Neither server always first: every other round runs in reverse.
            forward = round_number % 2 == 1
            for rdtype in QUERY_TYPES:
                runs = []
                if "queries" in args.measure:
                    runs += [("nsd", 0), ("registryd", 0)]
                if "changing" in args.measure:
                    runs.append(("registryd", CHANGES_PER_SECOND))
                for name, changes in runs if forward else runs[::-1]:
                    emit(measured(args, lambda: measure_queries(
                        args, servers, nsd if name == "nsd" else registryd, name, rdtype, query_files[rdtype],
                        round_number, changer_rate=changes)))
            if registration_server:
                besides = ["none", "registryd-dns", "nsd-dns"]
                for beside in besides if forward else besides[::-1]:
                    emit(measured(args, lambda: measure_registration(
                        args, servers, registration_server, beside, round_number, nsd, query_files["SRV"])))
        found = ratios(results, args)
        target_lines = targets(results, found, args)
        if args.json:
            for line in target_lines:
                print(json.dumps(line))
        else:
            print_summary(results, found, target_lines, args)
    finally:
        failures = []
        for server in reversed(started):
            try:
                server.stop()
            except (AssertionError, OSError, subprocess.SubprocessError) as error:
                failures.append(error)  # the others are stopped all the same
        work.cleanup()
        if failures:
            raise RuntimeError("stopping the servers: %s" % "; ".join(map(str, failures)))


if __name__ == "__main__":
    main()
