#!/usr/bin/python3
"""The robustness checker: reads a run's directory offline and judges it
against registryd's invariants (docs/ROBUSTNESS.md, "The invariants"). It
needs nothing but the files the harness wrote; `checker.py RUN_DIR` prints
the verdict and exits 1 on a violation.

Times are seconds on the run's one monotonic clock. An operation's outcome
is ok, failed, or unknown (a deadline or a cancel: it may have taken
effect, at any time after its call)."""
import collections
import glob
import json
import math
import os
import sys

# After a fault heals, an acknowledged registration whose client keeps
# renewing is listed by every node within this long; in cluster mode a
# node's view also lags the acknowledging node's by at most this long.
VISIBILITY_BOUND_S = 3.0
# Standalone: a session's close is answered first, its instances go within a
# tick (README, Sessions).
STANDALONE_LAG_S = 0.2
# What an expiry may take beyond TTL (+ grace) (+ --node-ttl in cluster
# mode) (+ a fault's length when it overlaps): ticks, the watch's way, the
# lister's own period.
EXPIRY_SLACK_S = 2.0
NEVER = math.inf
# In cluster mode a change's revision is its etcd revision R << 16, plus its
# place in R's Txn (docs/CLUSTER.md, "Consistency").
ETCD_REVISION_SHIFT = 16
# etcd's history arrives through a watch of its own, late by up to this
# (its keepalive notices a stopped member within it).
HISTORY_LAG_S = 3.0
# A watch may be told once that nothing changed; this many such answers in a
# row is a stream spinning.
REPEATED_EMPTY_ANSWERS = 5
MAX_STANDALONE_RANGE = 1_000_000  # far more changes than a run makes
# The overload fault's own leases (faults.overload): no client of the run
# made them, so the rules about what clients did leave them out.
LOAD_SERVICE_PREFIX = "bench-"

Key = collections.namedtuple("Key", "service instance")
SESSION_REQUESTS = ("open", "resume", "session_register", "session_deregister", "keep_alive", "close")


CHANGES = ("register", "session_register", "deregister", "session_deregister", "close")


class Attempt(collections.namedtuple("Attempt", "call ret outcome client kind")):
    """A try to make an instance exist (a register) or not (a deregister)."""

    def may_end_after(self, t):
        """Whether it may have taken effect after time t."""
        return self.outcome == "unknown" or self.ret > t


class Run:
    """A run's directory, loaded: what every rule reads."""

    def __init__(self, run_dir):
        self.dir = run_dir
        with open(os.path.join(run_dir, "run.json")) as f:
            self.meta = json.load(f)
        self.mode = self.meta["mode"]
        self.ttl = self.meta["ttl_ms"] / 1000
        self.node_ttl = self.meta["node_ttl_ms"] / 1000 if self.mode == "cluster" else 0.0
        fault = self.meta["fault"]
        self.fault = (fault["start"], fault["end"])
        self.ops = []
        for path in sorted(glob.glob(os.path.join(run_dir, "clients", "*.jsonl"))):
            self.ops += read_lines(path)
        self.ops.sort(key=lambda op: op["call"])
        self.watches = {}
        for path in sorted(glob.glob(os.path.join(run_dir, "watches", "*.jsonl"))):
            lines = read_lines(path)
            if lines:
                self.watches[lines[0]["watch"]] = lines
        self.etcd = read_lines(os.path.join(run_dir, "etcd_history.jsonl"))
        # The history's watch was cancelled (say, compacted past): what it has
        # is not etcd's whole history, and the rules that replay it hold back.
        self.etcd_complete = not any(event.get("kind") == "gap" for event in self.etcd)
        self.etcd = [event for event in self.etcd if event.get("kind") != "gap"]
        self.unclean = []
        if os.path.exists(os.path.join(run_dir, "unclean_stop.txt")):
            with open(os.path.join(run_dir, "unclean_stop.txt")) as f:
                self.unclean = [line.strip() for line in f if line.strip()]
        self.fault_log = read_lines(os.path.join(run_dir, "faults.jsonl"))
        # Standalone: a restart restores every lease with a fresh TTL plus up to --restore-spread.
        self.restarts = [line["t"] for line in self.fault_log
                         if line["action"] == "restart" and self.mode == "standalone"]
        self.restore_spread = self.meta.get("restore_spread_ms", 0) / 1000
        self.final = read_json(os.path.join(run_dir, "final.json"))
        self.recovered = read_json(os.path.join(run_dir, "recovered.json"))
        self._index()

    def _index(self):
        self.registers = collections.defaultdict(list)    # Key -> [Attempt]
        self.deregisters = collections.defaultdict(list)  # Key -> [Attempt]
        self.refreshes = collections.defaultdict(list)    # Key -> call times of renewals, keep-alives, resumes
        self.stopped = {}                                  # Key -> (time its client stopped, grace)
        self.lost = collections.defaultdict(list)         # Key -> [op] that said its lease or session is gone
        session_members = collections.defaultdict(set)    # session -> {Key}
        session_grace = {}
        opened_by = {}
        for op in self.ops:
            kind, client = op["op"], op["client"]
            ret = op.get("return", op["call"])
            outcome = op.get("outcome", "unknown")
            # UNAVAILABLE to a change may come after it was made: registryd's
            # "made but could not be written to the data dir", or a cluster
            # node's write etcd may have taken. It may have taken effect.
            if outcome == "failed" and op.get("code") == "UNAVAILABLE" and kind in CHANGES:
                outcome = "unknown"
            if kind == "open" and "session" in op:
                session_grace[op["session"]] = op.get("grace_ms", self.meta["ttl_ms"]) / 1000
                opened_by[op["session"]] = client
            if kind == "register":
                key = Key(op["service"], op["instance"])
                self.registers[key].append(Attempt(op["call"], ret, outcome, client, "register"))
                if outcome == "ok":
                    self.refreshes[key].append(op["call"])
            elif kind == "session_register":
                results = op.get("results") or []
                for i, (service, instance) in enumerate(op["instances"]):
                    key = Key(service, instance)
                    one = outcome
                    if outcome != "unknown" and i < len(results):
                        one = "ok" if results[i][0] == 0 else "failed"
                    self.registers[key].append(Attempt(op["call"], ret, one, client, "session_register"))
                    session_members[op["session"]].add(key)
                    if one == "ok":
                        self.refreshes[key].append(op["call"])
            elif kind in ("deregister", "session_deregister"):
                key = Key(op["service"], op["instance"])
                self.deregisters[key].append(Attempt(op["call"], ret, outcome, client, kind))
            elif kind == "close":
                for service, instance in op.get("instances", []):
                    self.deregisters[Key(service, instance)].append(Attempt(op["call"], ret, outcome, client, kind))
            elif kind == "renew":
                key = Key(op["service"], op["instance"])
                self.refreshes[key].append(op["call"])
                if op.get("code") == "NOT_FOUND":
                    self.lost[key].append(op)
            elif kind in ("keep_alive", "resume"):
                for key in session_members[op["session"]]:
                    self.refreshes[key].append(op["call"])
                    if op.get("code") == "NOT_FOUND" and kind == "resume":
                        self.lost[key].append(dict(op, grace=session_grace.get(op["session"], self.ttl)))
            elif kind == "stop":
                if "instance" in op:
                    self.stopped[Key(op["service"], op["instance"])] = (op["call"], 0.0)
                for service, instance in op.get("instances", []):
                    grace = session_grace.get(op["session"], self.ttl) if op.get("cancel") else 0.0
                    self.stopped[Key(service, instance)] = (op["call"], grace)
        self.session_grace = session_grace

    # What a client did to one instance.

    def acknowledged(self, key):
        return [a for a in self.registers.get(key, []) if a.outcome == "ok"]

    def deregistered_by(self, key, t):
        """The first deregistration of `key` acknowledged by time t, or None."""
        done = [a for a in self.deregisters.get(key, []) if a.outcome == "ok" and a.ret <= t]
        return min(done, key=lambda a: a.ret) if done else None

    def deregistration_tried_by(self, key, t):
        return any(a.call <= t for a in self.deregisters.get(key, []))

    def last_refresh_before(self, key, t):
        before = [c for c in self.refreshes.get(key, []) if c <= t]
        return max(before) if before else None

    def kept_at(self, key, t):
        """Whether its client was keeping it at time t: registered (acknowledged)
        before, and since its last registration not stopped, no deregistration
        tried, nothing said it was lost (a client registers the same instance
        again after NOT_FOUND or a lost session)."""
        acknowledged = [a for a in self.acknowledged(key) if a.ret <= t]
        if not acknowledged:
            return False
        since = max(a.call for a in acknowledged)
        if key in self.stopped and since <= self.stopped[key][0] <= t:
            return False
        if any(since <= a.call <= t for a in self.deregisters.get(key, [])):
            return False
        return not any(since <= op["call"] <= t for op in self.lost.get(key, []))

    def in_fault(self, t, after=VISIBILITY_BOUND_S):
        return self.fault[0] <= t <= self.fault[1] + after

    def expiry_bound(self, key, stopped_at, grace):
        """By when an instance whose client stopped must be gone."""
        last = self.last_refresh_before(key, stopped_at)
        if last is None:
            last = stopped_at
        bound = last + self.ttl + grace + self.node_ttl + EXPIRY_SLACK_S
        if self.fault[0] <= bound and self.fault[1] >= last:
            bound += self.fault[1] - self.fault[0] + self.node_ttl + VISIBILITY_BOUND_S
        for restart in self.restarts:
            # Restored before it was due: a fresh TTL plus up to --restore-spread.
            if last <= restart <= bound:
                bound = max(bound, restart + self.ttl + self.restore_spread + EXPIRY_SLACK_S)
        return bound


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def read_json(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def observations(run):
    """Every time an instance was seen listed: (time, node, Key, where). A
    Discover's answer counts at its call time for 'it was there after' and
    its return for 'it was there before'."""
    seen = []
    for op in run.ops:
        if op["op"] == "discover" and op.get("outcome") == "ok":
            for instance in op.get("instances", []):
                seen.append((op["call"], op["return"], op["node"], Key(op["service"], instance), "discover"))
    if run.final:
        for node, services in run.final["nodes"].items():
            for service, instances in services.items():
                for instance in instances:
                    seen.append((run.final["t"], run.final["t"], int(node), Key(service, instance), "final"))
    return seen


def violation(invariant, t, key=None, **details):
    record = {"invariant": invariant, "t": round(t, 3)}
    if key is not None:
        record["service"], record["instance"] = key.service, key.instance
    record.update(details)
    return record


def check_no_phantom(run):
    """Nothing is listed, watched or recovered that was never attempted."""
    found = []
    for _, ret, node, key, where in observations(run):
        if not any(a.call <= ret for a in run.registers.get(key, [])):
            found.append(violation("no_phantom", ret, key, node=node, where=where))
    for name, lines in run.watches.items():
        for line in lines:
            for kind, service, instance, revision, _ in line.get("events", []):
                key = Key(service, instance)
                if service.startswith(LOAD_SERVICE_PREFIX):
                    continue
                if kind != "REMOVED" and not any(a.call <= line["t"] for a in run.registers.get(key, [])):
                    found.append(violation("no_phantom", line["t"], key, watch=name, revision=revision))
    if run.recovered:
        for service, instances in run.recovered["instances"].items():
            for instance in instances:
                key = Key(service, instance)
                if not any(a.call <= run.recovered["return"] for a in run.registers.get(key, [])):
                    found.append(violation("no_phantom", run.recovered["call"], key, where="recovered"))
    return found


def check_no_resurrection(run):
    """After an acknowledged deregistration, an instance is listed again only
    if a registration of it may have taken effect after the deregistration
    began. In cluster mode another node may lag by the visibility bound, and
    reads during a fault (a cut-off node serves its last view) are excused."""
    found = []
    lag = VISIBILITY_BOUND_S if run.mode == "cluster" else STANDALONE_LAG_S
    for call, ret, node, key, where in observations(run):
        gone = run.deregistered_by(key, call - lag)
        if gone is None or (run.mode == "cluster" and run.in_fault(call)):
            continue
        if not any(a.call <= ret and a.may_end_after(gone.call) for a in run.registers.get(key, [])):
            found.append(violation("no_resurrection", call, key, node=node, where=where,
                                   deregistered=[gone.call, gone.ret], client=gone.client))
    # etcd's history: a key created again after its acknowledged deregistration.
    exists, deleted = set(), set()
    for event in (run.etcd if run.etcd_complete else []):
        if event.get("kind") != "instance":
            continue
        if event["type"] == "DELETE":
            exists.discard(event["key"])
            deleted.add(event["key"])
            continue
        if event["key"] in exists:
            continue
        exists.add(event["key"])
        if event["key"] not in deleted:
            continue  # its first creation, however late the history's watch delivered it
        key = Key(event["value"]["service"], event["value"]["instance"])
        t = event.get("t", NEVER)
        gone = run.deregistered_by(key, t)
        if gone is not None and not any(a.call <= t and a.may_end_after(gone.call) for a in run.registers.get(key, [])):
            found.append(violation("no_resurrection", t, key, where="etcd", revision=event["revision"]))
    return found


def check_expiry(run):
    """A renewing client's instance is never removed; a stopped client's is
    gone within TTL (+ grace) (+ --node-ttl) (+ the fault) + the slack."""
    found = []
    for key, ops in run.lost.items():
        for op in ops:
            refreshes = sorted(c for c in run.refreshes.get(key, []) if c < op["call"])
            # Excused: its client itself let a TTL pass without trying, or
            # its session had no grace to survive a break.
            gaps = [b - a for a, b in zip(refreshes, refreshes[1:])]
            if not refreshes or (gaps and max(gaps[-3:]) >= run.ttl) or op.get("grace", run.ttl) == 0:
                continue
            # A deregistration or close that timed out may land later: its client renews on, and is told so.
            if any(a.call < op["call"] and a.outcome != "failed" for a in run.deregisters.get(key, [])):
                continue
            # Standalone sessions live in memory (README): a restart ends
            # them, and their instances stay, each with a lease of its own.
            # What counts is that the answer came after a restart: a resume
            # sent while the node was down waits for it.
            answered = op.get("return", op["call"])
            if op["op"] == "resume" and run.mode == "standalone" and any(
                    line["action"] == "restart" and line["t"] <= answered for line in run.fault_log):
                continue
            found.append(violation("expiry", op["call"], key, what="a client that kept renewing was told its "
                                   "lease or session is gone", client=op["client"], node=op.get("node"),
                                   last_refreshes=refreshes[-3:]))
    for name, lines in run.watches.items():
        for line in lines:
            for kind, service, instance, revision, reason in line.get("events", []):
                key = Key(service, instance)
                # The client saw this loss itself (judged above): a watch may
                # deliver the removal late, after the client registered again,
                # or before the client's own next call finds it.
                recently_lost = [op for op in run.lost.get(key, [])
                                 if line["t"] - run.ttl - VISIBILITY_BOUND_S <= op["call"]
                                 <= line["t"] + VISIBILITY_BOUND_S]
                if recently_lost:
                    continue
                if kind == "REMOVED" and reason == "EXPIRED" and run.kept_at(key, line["t"]):
                    last = run.last_refresh_before(key, line["t"])
                    if last is not None and line["t"] - last < run.ttl / 2:
                        found.append(violation("expiry", line["t"], key, what="expired while its client renewed",
                                               watch=name, revision=revision, last_refresh=last))
    for call, _, node, key, where in observations(run):
        if key not in run.stopped:
            continue
        stopped_at, grace = run.stopped[key]
        if any(a.call > stopped_at for a in run.registers.get(key, [])):
            continue
        bound = run.expiry_bound(key, stopped_at, grace)
        if call > bound:
            found.append(violation("expiry", call, key, what="still listed after its client stopped", node=node,
                                   where=where, stopped=stopped_at, bound=round(bound, 3)))
    return found


def check_visibility(run):
    """An acknowledged registration whose client keeps it is listed by every
    node within the visibility bound of its acknowledgement, and of the
    fault's heal."""
    found = []
    # The run ends at the final listing: then the harness stops its clients.
    end = run.final["t"] if run.final else float("inf")
    for op in run.ops:
        if op["op"] != "discover" or op.get("outcome") != "ok" or run.in_fault(op["call"]) or op["call"] >= end:
            continue
        listed = set(op.get("instances", []))
        for key in [k for k in run.registers if k.service == op["service"]]:
            if key.instance in listed:
                continue
            start = op["call"] - VISIBILITY_BOUND_S
            acknowledged = [a for a in run.acknowledged(key) if a.ret <= start]
            if acknowledged and run.kept_at(key, op["return"]) and run.kept_at(key, max(acknowledged).ret):
                found.append(violation("visibility", op["call"], key, node=op["node"],
                                       acknowledged=max(acknowledged).ret))
    if run.final:
        t = run.final["t"]
        for key in run.registers:
            if not run.kept_at(key, t):
                continue
            for node, services in run.final["nodes"].items():
                if key.instance not in services.get(key.service, []):
                    found.append(violation("visibility", t, key, node=int(node), where="final"))
    return found


def visible_changes(etcd_events):
    """The watch events etcd's history implies, by revision: replaying every
    instance key, a change of what Discover shows (present and not ejected:
    address, metadata, overloaded) is ADDED, UPDATED or REMOVED."""
    state = {}   # etcd key -> visible value (None: not visible)
    names = {}   # etcd key -> Key
    changes = collections.defaultdict(list)  # revision -> [(kind, service, instance)]
    for event in etcd_events:
        if event.get("kind") != "instance":
            continue
        before = state.get(event["key"])
        if event["type"] == "PUT":
            value = event["value"]
            names[event["key"]] = Key(value["service"], value["instance"])
            after = None if value["ejected"] else (value["address"], tuple(sorted(value["metadata"].items())),
                                                   value["overloaded"])
        else:
            after = None
        state[event["key"]] = after
        key = names.get(event["key"])
        if key is None or before == after:
            continue
        kind = "ADDED" if before is None else "REMOVED" if after is None else "UPDATED"
        changes[event["revision"]].append((kind, key.service, key.instance))
    return changes, state, names


def check_watches(run):
    """Every watch: ordered, unique, revisions only grow across resumes, and
    exactly the history between the revisions it saw: etcd's in cluster
    mode; standalone, where every change takes the next revision, one event
    for each revision."""
    found = []
    expected = visible_changes(run.etcd)[0] if run.mode == "cluster" and run.etcd and run.etcd_complete else None
    for name, lines in run.watches.items():
        seen = set()
        last_revision = 0
        since = 0
        exact_from = None  # the revision from which this watch's events must equal etcd's
        got = collections.defaultdict(list)
        covered = []  # [from, to] revision ranges whose every event this watch was sent
        repeats = 0  # empty answers in a row at the revision it already had
        for line in lines:
            if line["kind"] == "start":
                since = line["since"]
                repeats = 0
                exact_from = since if since else None
                continue
            if line["kind"] != "response":
                continue
            if line["revision"] < last_revision:
                found.append(violation("watch", line["t"], watch=name, what="revision went back",
                                       revision=line["revision"], before=last_revision))
            if line["snapshot"] or line["coalesced"]:
                exact_from = line["revision"] if not line["more"] else None
                last_revision = max(last_revision, line["revision"])
                if not line["more"]:
                    since = line["revision"]
                continue
            if not line["events"] and line["revision"] == last_revision and line["revision"] == since:
                repeats += 1
                if repeats == REPEATED_EMPTY_ANSWERS:
                    found.append(violation("watch", line["t"], watch=name, what="the same empty answer again and "
                                           "again", revision=line["revision"]))
            else:
                repeats = 0
            previous = 0
            for kind, service, instance, revision, _ in line["events"]:
                if revision <= since:
                    found.append(violation("watch", line["t"], Key(service, instance), watch=name,
                                           what="an event out of order: at or before a revision already reached",
                                           revision=revision, since=since))
                if revision < previous:
                    found.append(violation("watch", line["t"], Key(service, instance), watch=name,
                                           what="events out of order", revision=revision, before=previous))
                previous = revision
                ident = (kind, service, instance, revision)
                if ident in seen:
                    found.append(violation("watch", line["t"], Key(service, instance), watch=name,
                                           what="a duplicate event", revision=revision))
                seen.add(ident)
                got[revision].append((kind, service, instance))
            if exact_from is not None and not line["more"]:
                covered.append((exact_from, line["revision"]))
                exact_from = line["revision"]
            last_revision = max(last_revision, line["revision"])
            since = line["revision"] if not line["more"] else since
        if run.mode == "standalone":
            found += standalone_history_gaps(name, got, covered)
            continue
        if expected is None:
            continue
        by_etcd_revision = collections.defaultdict(list)
        for revision, events in got.items():
            by_etcd_revision[revision >> ETCD_REVISION_SHIFT] += events
        for low, high in covered:
            for revision in range((low >> ETCD_REVISION_SHIFT) + 1, (high >> ETCD_REVISION_SHIFT) + 1):
                want = sorted(expected.get(revision, []))
                have = sorted(by_etcd_revision.get(revision, []))
                if want != have:
                    found.append(violation("watch", 0, watch=name, what="not etcd's history", revision=revision,
                                           want=want, got=have))
                    break
    return found


def standalone_history_gaps(name, got, covered):
    """Standalone, a registry's changes take revisions one apart: a revision
    within a range the watch was sent whole ((low, high]) without exactly
    one event is a change it missed (or one it was sent twice over)."""
    for low, high in covered:
        if high - low > MAX_STANDALONE_RANGE:
            return [violation("watch", 0, watch=name, what="revisions jumped by more than any run makes changes",
                              revision=high, before=low)]
        for revision in range(low + 1, high + 1):
            if len(got.get(revision, [])) != 1:
                return [violation("watch", 0, watch=name, what="not the registry's history: %d events at a revision "
                                  "the watch was sent" % len(got.get(revision, [])), revision=revision,
                                  range=[low, high])]
    return []


def check_one_owner(run):
    """Cluster mode: replaying etcd's history, each session has one holder at
    a time, and only its holder answers its client. A node that answered a
    session's request while etcd had given the session to another node
    (longer ago than the visibility bound: its watch may lag that long) was
    a second owner, a zombie."""
    if run.mode != "cluster" or not run.etcd_complete:
        return []
    holders = collections.defaultdict(list)  # session -> [(time etcd's history had it, holder)]
    for event in run.etcd:
        if event.get("kind") == "session" and event["type"] == "PUT":
            holders[event["value"]["session"]].append((event.get("t", 0.0), event["value"]["holder"]))
    found = []
    for op in run.ops:
        if op["op"] not in SESSION_REQUESTS or op.get("outcome") != "ok" or op.get("session") not in holders:
            continue
        history = holders[op["session"]]
        settled = [holder for t, holder in history if t <= op["call"] - VISIBILITY_BOUND_S]
        answered_by = "node%d" % op["node"]
        if not settled or settled[-1] == answered_by:
            continue
        if any(holder == answered_by for t, holder in history
               if op["call"] - VISIBILITY_BOUND_S < t <= op["return"] + HISTORY_LAG_S):
            continue  # it moved there meanwhile (this very resume, say)
        found.append(violation("one_owner", op["call"], session=op["session"], node=op["node"], holder=settled[-1],
                               what="answered by a node that no longer held the session", op=op["op"]))
    return found


def check_convergence(run):
    """After the quiet period every node lists the same, and (cluster) what etcd holds."""
    found = []
    if not run.final:
        return [violation("convergence", 0, what="no final state")]
    nodes = run.final["nodes"]
    first = next(iter(nodes.values()))
    for node, listed in nodes.items():
        if listed != first:
            found.append(violation("convergence", run.final["t"], what="nodes list differently", node=int(node),
                                   listed=listed, first=first))
    if run.mode == "cluster" and run.etcd and run.etcd_complete:
        upto = [e for e in run.etcd if e["revision"] <= run.final.get("etcd_revision", NEVER)]
        _, state, names = visible_changes(upto)
        held = collections.defaultdict(list)
        for etcd_key, value in state.items():
            if value is not None:
                held[names[etcd_key].service].append(names[etcd_key].instance)
        for service in first:
            if sorted(held.get(service, [])) != first[service]:
                found.append(violation("convergence", run.final["t"], what="a node's catalog is not etcd's",
                                       service=service, etcd=sorted(held.get(service, [])), node=first[service]))
    return found


def check_durability(run):
    """Standalone, kill -9 under --fsync always: acknowledged ⊆ recovered ⊆ attempted."""
    if not run.recovered:
        return []
    killed = next((line["t"] for line in run.fault_log if line["action"] == "kill -9"), None)
    if killed is None:
        return []
    found = []
    recovered = {Key(s, i) for s, instances in run.recovered["instances"].items() for i in instances}
    for key in run.registers:
        acknowledged = [a for a in run.acknowledged(key) if a.ret <= killed]
        if not acknowledged or run.deregistration_tried_by(key, killed):
            continue
        if key in run.stopped and run.stopped[key][0] <= killed:
            continue  # may have expired before the kill
        if any(op["call"] <= killed for op in run.lost.get(key, [])):
            continue
        if key not in recovered:
            found.append(violation("durability", killed, key, what="acknowledged before the kill, not recovered",
                                   acknowledged=max(acknowledged).ret))
    return found


def check_processes(run):
    """Every registryd stopped cleanly at the end (exit 0 after SIGTERM, so
    no sanitizer report either), and none died but by the fault."""
    return [violation("process", run.final["t"] if run.final else 0, what=line) for line in run.unclean]


RULES = (check_processes, check_no_phantom, check_no_resurrection, check_expiry, check_visibility, check_watches,
         check_one_owner, check_convergence, check_durability)


def check(run_dir):
    """The verdict on a run: {"ok", "violations" (first first), "counts"}."""
    run = Run(run_dir)
    violations = []
    for rule in RULES:
        violations += rule(run)
    violations.sort(key=lambda v: v["t"])
    counts = collections.Counter(op["op"] for op in run.ops)
    counts["watch_responses"] = sum(1 for lines in run.watches.values() for line in lines
                                    if line["kind"] == "response")
    counts["etcd_events"] = len(run.etcd)
    return {"ok": not violations, "violations": violations[:50], "violation_count": len(violations),
            "counts": dict(counts), "fault": run.meta["fault"], "mode": run.mode, "seed": run.meta["seed"],
            "etcd_history_complete": run.etcd_complete}


def summary(verdict):
    counts = verdict["counts"]
    return "%d operations, %d watch responses, %d etcd events" % (
        sum(v for k, v in counts.items() if k not in ("watch_responses", "etcd_events")),
        counts.get("watch_responses", 0), counts.get("etcd_events", 0))


if __name__ == "__main__":
    verdict = check(sys.argv[1])
    print(json.dumps(verdict, indent=1))
    sys.exit(0 if verdict["ok"] else 1)
