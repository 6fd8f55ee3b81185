#!/usr/bin/python3
"""The checker's self-tests: hand-made runs, one clean and the others each
with one planted fault (a duplicate event, a gap, a resurrection, two
owners, a lost acknowledged write, a phantom, an instance that outlived its
client, a spinning watch, a missing instance, an unclean stop, ...). The clean run must pass, and each planted fault
must be found as the violation it is."""
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checker  # noqa: E402

SHIFT = 1 << checker.ETCD_REVISION_SHIFT


def op(client, kind, call, ret, outcome="ok", **fields):
    return dict(fields, client=client, op=kind, call=call, outcome=outcome, **{"return": ret})


def instance_put(revision, t, service, instance, holder="node0", session=0):
    return {"revision": revision, "t": t, "type": "PUT", "kind": "instance",
            "key": "/robustness/instances/00/%s/%s" % (service, instance),
            "value": {"service": service, "instance": instance, "address": "10.0.0.1:80", "metadata": {},
                      "overloaded": False, "ejected": False, "holder": holder, "lease": 1, "session": session}}


def instance_delete(revision, t, service, instance):
    return {"revision": revision, "t": t, "type": "DELETE", "kind": "instance",
            "key": "/robustness/instances/00/%s/%s" % (service, instance)}


def session_put(revision, t, session, holder):
    return {"revision": revision, "t": t, "type": "PUT", "kind": "session", "key": "/robustness/sessions/00/%x" % session,
            "value": {"session": session, "holder": holder, "ended": False}}


class CleanRun:
    """A cluster run where nothing went wrong: a lease client registers a1,
    renews it, deregisters it; a session client keeps s1 on node 0; a lister
    and two watches see exactly that; etcd's history says the same."""

    def __init__(self):
        self.meta = {"seed": 1, "mode": "cluster", "ttl_ms": 2000, "node_ttl_ms": 2000,
                     "fault": {"name": "kill9_node", "start": 20.0, "end": 21.0}, "end": 30.0}
        self.clients = {
            "lease0": [op("lease0", "register", 1.0, 1.1, service="orders", instance="a1", node=0, lease=1)]
            + [op("lease0", "renew", 1.0 + 0.6 * i, 1.05 + 0.6 * i, service="orders", instance="a1", node=i % 3,
                  lease=1) for i in range(1, 10)]
            + [op("lease0", "deregister", 7.0, 7.1, service="orders", instance="a1", node=0, lease=1)],
            "session0": [op("session0", "open", 1.0, 1.1, node=0, session=9, ttl_ms=2000, grace_ms=2000),
                         op("session0", "session_register", 1.2, 1.3, node=0, session=9,
                            instances=[["orders", "s1"]], results=[[0, 5]])]
            + [op("session0", "keep_alive", 1.5 + 0.6 * i, 1.55 + 0.6 * i, node=0, session=9) for i in range(40)],
            "lister": [op("lister", "discover", 3.0, 3.1, node=1, service="orders", instances=["a1", "s1"]),
                       op("lister", "discover", 12.0, 12.1, node=2, service="orders", instances=["s1"])],
        }
        self.etcd = [session_put(10, 1.1, 9, "node0"), instance_put(11, 1.1, "orders", "a1"),
                     instance_put(12, 1.3, "orders", "s1", session=9), instance_delete(13, 7.1, "orders", "a1")]
        self.watches = {name: [
            {"watch": name, "node": i, "t": 0.5, "kind": "start", "since": 0},
            response(0.6, 10 * SHIFT, [], snapshot=True, watch=name),
            response(1.2, 11 * SHIFT + 1, [["ADDED", "orders", "a1", 11 * SHIFT + 1, "REASON_UNSPECIFIED"]], watch=name),
            response(1.4, 12 * SHIFT + 1, [["ADDED", "orders", "s1", 12 * SHIFT + 1, "REASON_UNSPECIFIED"]], watch=name),
            response(7.2, 13 * SHIFT + 1, [["REMOVED", "orders", "a1", 13 * SHIFT + 1, "DEREGISTERED"]], watch=name),
        ] for i, name in enumerate(("watch0", "watch1"))}
        self.final = {"t": 28.0, "etcd_revision": 13,
                      "nodes": {str(i): {"orders": ["s1"], "payments": [], "search": []} for i in range(3)}}
        self.faults = [{"t": 20.0, "action": "kill -9", "target": "node 1"}]
        self.recovered = None
        self.unclean = None

    def write(self, run_dir):
        os.makedirs(os.path.join(run_dir, "clients"))
        os.makedirs(os.path.join(run_dir, "watches"))
        dump(os.path.join(run_dir, "run.json"), self.meta)
        dump(os.path.join(run_dir, "final.json"), self.final)
        if self.recovered is not None:
            dump(os.path.join(run_dir, "recovered.json"), self.recovered)
        for name, ops in self.clients.items():
            lines(os.path.join(run_dir, "clients", name + ".jsonl"), ops)
        for name, responses in self.watches.items():
            lines(os.path.join(run_dir, "watches", name + ".jsonl"), responses)
        lines(os.path.join(run_dir, "etcd_history.jsonl"), self.etcd)
        lines(os.path.join(run_dir, "faults.jsonl"), self.faults)
        if self.unclean is not None:
            with open(os.path.join(run_dir, "unclean_stop.txt"), "w") as out:
                out.write(self.unclean + "\n")


def response(t, revision, events, snapshot=False, watch="watch0", more=False):
    return {"watch": watch, "node": 0, "t": t, "kind": "response", "snapshot": snapshot, "history_lost": False,
            "coalesced": False, "more": more, "revision": revision, "events": events}


def dump(path, value):
    with open(path, "w") as out:
        json.dump(value, out)


def lines(path, values):
    with open(path, "w") as out:
        for value in values:
            out.write(json.dumps(value) + "\n")


class CheckerTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="checker_test_")
        self.run = CleanRun()

    def tearDown(self):
        shutil.rmtree(self.dir)

    def verdict(self):
        run_dir = os.path.join(self.dir, "run")
        shutil.rmtree(run_dir, ignore_errors=True)
        self.run.write(run_dir)
        return checker.check(run_dir)

    def assert_found(self, invariant, what=None):
        verdict = self.verdict()
        self.assertFalse(verdict["ok"], "the checker missed a planted %s violation" % invariant)
        found = [v for v in verdict["violations"] if v["invariant"] == invariant
                 and (what is None or what in v.get("what", ""))]
        self.assertTrue(found, "want a %s violation (%s), got %s" % (invariant, what, verdict["violations"]))
        return found[0]

    def test_a_clean_run_passes(self):
        verdict = self.verdict()
        self.assertTrue(verdict["ok"], verdict["violations"])

    def test_a_duplicate_event(self):
        self.run.watches["watch1"].append(
            response(7.3, 13 * SHIFT + 1, [["REMOVED", "orders", "a1", 13 * SHIFT + 1, "DEREGISTERED"]], watch="watch1"))
        self.assert_found("watch", "duplicate")

    def test_a_gap_in_a_watch(self):
        del self.run.watches["watch0"][3]  # s1's ADDED never arrives
        found = self.assert_found("watch", "not etcd's history")
        self.assertEqual(found["revision"], 12)

    def test_events_out_of_order(self):
        watch = self.run.watches["watch0"]
        watch[2]["events"], watch[3]["events"] = watch[3]["events"], watch[2]["events"]
        self.assert_found("watch", "order")

    def test_a_revision_going_back_across_a_resume(self):
        self.run.watches["watch0"] += [{"watch": "watch0", "node": 0, "t": 8.0, "kind": "end", "code": "UNAVAILABLE"},
                                       {"watch": "watch0", "node": 0, "t": 8.1, "kind": "start", "since": 13 * SHIFT},
                                       response(8.2, 12 * SHIFT + 1, [])]
        self.assert_found("watch", "went back")

    def test_a_spinning_watch(self):
        self.run.watches["watch0"] += [response(8.0 + i / 100, 13 * SHIFT + 1, []) for i in range(10)]
        self.assert_found("watch", "again and again")

    def test_a_resurrection(self):
        self.run.clients["lister"].append(op("lister", "discover", 15.0, 15.1, node=0, service="orders",
                                             instances=["a1", "s1"]))
        found = self.assert_found("no_resurrection")
        self.assertEqual(found["instance"], "a1")

    def test_a_resurrection_in_etcd(self):
        self.run.etcd.append(instance_put(14, 9.0, "orders", "a1"))
        self.assert_found("no_resurrection")

    def test_a_registration_after_the_deregistration_explains_a_return(self):
        self.run.clients["lease0"].append(op("lease0", "register", 14.0, 14.1, "unknown", service="orders",
                                             instance="a1", node=0))
        self.run.clients["lister"].append(op("lister", "discover", 15.0, 15.1, node=0, service="orders",
                                             instances=["a1", "s1"]))
        verdict = self.verdict()
        self.assertEqual([v for v in verdict["violations"] if v["invariant"] == "no_resurrection"], [])

    def test_a_phantom(self):
        self.run.clients["lister"].append(op("lister", "discover", 13.0, 13.1, node=0, service="orders",
                                             instances=["ghost", "s1"]))
        found = self.assert_found("no_phantom")
        self.assertEqual(found["instance"], "ghost")

    def test_two_owners_of_a_session(self):
        # Node 1 took the session over at 9.0, yet node 0 went on answering its keep-alives.
        self.run.etcd.append(session_put(14, 9.0, 9, "node1"))
        self.run.final["etcd_revision"] = 14
        found = self.assert_found("one_owner")
        self.assertEqual(found["session"], 9)

    def test_a_renewing_client_told_its_lease_is_gone(self):
        self.run.clients["lease0"][5] = dict(self.run.clients["lease0"][5], outcome="failed", code="NOT_FOUND")
        self.assert_found("expiry", "kept renewing")

    def make_standalone(self, revisions=(101, 102, 103)):
        """The clean run as one standalone registry's, whose changes take
        revisions one apart: its watches see a1, s1, then a1's removal at
        `revisions`."""
        self.run.meta["mode"] = "standalone"
        self.run.etcd = []
        del self.run.final["etcd_revision"]
        self.run.final["nodes"] = {"0": self.run.final["nodes"]["0"]}
        for ops in self.run.clients.values():
            for each in ops:
                if "node" in each:
                    each["node"] = 0
        self.run.faults = [{"t": 20.0, "action": "SIGSTOP", "target": "node 0"}]
        added_a1, added_s1, removed_a1 = revisions
        self.run.watches = {"watch0": [
            {"watch": "watch0", "node": 0, "t": 0.5, "kind": "start", "since": 0},
            response(0.6, 100, [], snapshot=True),
            response(1.2, added_a1, [["ADDED", "orders", "a1", added_a1, "REASON_UNSPECIFIED"]]),
            response(1.4, added_s1, [["ADDED", "orders", "s1", added_s1, "REASON_UNSPECIFIED"]]),
            response(7.2, removed_a1, [["REMOVED", "orders", "a1", removed_a1, "DEREGISTERED"]]),
        ]}

    def test_a_standalone_watch_sent_every_change_passes(self):
        self.make_standalone()
        verdict = self.verdict()
        self.assertTrue(verdict["ok"], verdict["violations"])

    def test_a_standalone_watch_that_missed_a_change(self):
        self.make_standalone(revisions=(101, 103, 104))  # revision 102 was a change it was never sent
        found = self.assert_found("watch", "not the registry's history")
        self.assertEqual(found["revision"], 102)

    def test_a_graceless_session_whose_removal_a_watch_sees_first(self):
        # Grace 0: the stream broke at 10.0 and the session ended; a watch saw
        # the removal before the client's resume was told (excused, both).
        self.run.meta["mode"] = "cluster"
        clients = self.run.clients["session0"]
        clients[0] = dict(clients[0], grace_ms=0)
        self.run.clients["session0"] = [c for c in clients if c["call"] < 9.9] + [
            op("session0", "keep_alive", 10.0, 10.0, node=0, session=9, outcome="failed", code="UNAVAILABLE"),
            op("session0", "resume", 10.02, 10.03, node=1, session=9, outcome="failed", code="NOT_FOUND")]
        self.run.watches["watch0"].append(
            response(10.01, 14 * SHIFT + 1, [["REMOVED", "orders", "s1", 14 * SHIFT + 1, "EXPIRED"]]))
        self.run.etcd.append(instance_delete(14, 10.0, "orders", "s1"))
        self.run.final["etcd_revision"] = 14
        self.run.final["nodes"] = {str(i): {"orders": [], "payments": [], "search": []} for i in range(3)}
        self.run.clients["lister"] = self.run.clients["lister"][:1]
        verdict = self.verdict()
        self.assertEqual([v for v in verdict["violations"] if v["invariant"] == "expiry"], [])

    def test_a_deregistration_made_but_not_written(self):
        # UNAVAILABLE "made but could not be written": the deregistration took
        # effect, so the client's next renewal is rightly told NOT_FOUND.
        ops = self.run.clients["lease0"]
        self.run.clients["lease0"] = ops[:5] + [
            op("lease0", "deregister", 3.5, 3.6, service="orders", instance="a1", node=0, lease=1,
               outcome="failed", code="UNAVAILABLE"),
            op("lease0", "renew", 3.7, 3.75, service="orders", instance="a1", node=0, lease=1,
               outcome="failed", code="NOT_FOUND")]
        self.run.watches = {name: [line for line in lines if line.get("t", 0) < 7.0] + [
            response(3.65, 13 * SHIFT + 1, [["REMOVED", "orders", "a1", 13 * SHIFT + 1, "DEREGISTERED"]], watch=name)]
            for name, lines in self.run.watches.items()}
        self.run.etcd[-1] = instance_delete(13, 3.6, "orders", "a1")
        self.run.clients["lister"] = [self.run.clients["lister"][1]]
        verdict = self.verdict()
        self.assertEqual([v for v in verdict["violations"] if v["invariant"] == "expiry"], [])

    def test_a_kept_session_whose_resume_is_refused(self):
        # The stream broke at 10.0 while the client refreshed every 0.6 s: the
        # resume on another node must find the session (grace 2 s).
        clients = self.run.clients["session0"]
        self.run.clients["session0"] = [c for c in clients if c["call"] < 10.0] + [
            op("session0", "resume", 10.0, 10.05, node=1, session=9, outcome="failed", code="NOT_FOUND")]
        found = self.assert_found("expiry", "kept renewing")
        self.assertEqual((found["service"], found["instance"]), ("orders", "s1"))

    def test_a_standalone_session_resumed_across_a_restart_is_excused(self):
        # Standalone sessions live in memory: the resume was sent while the
        # node was down and answered by the restarted node, which never knew
        # the session. (It is the answer that comes after the restart.)
        self.run.meta["mode"] = "standalone"
        self.run.etcd = []
        self.run.faults = [{"t": 9.9, "action": "kill -9", "target": "node 0"},
                           {"t": 10.1, "action": "restart", "target": "node 0"}]
        clients = self.run.clients["session0"]
        self.run.clients["session0"] = [c for c in clients if c["call"] < 9.9] + [
            op("session0", "resume", 10.0, 10.15, node=0, session=9, outcome="failed", code="NOT_FOUND")]
        verdict = self.verdict()
        self.assertEqual([v for v in verdict["violations"] if v["invariant"] == "expiry"], [])

    def test_a_node_just_awake_denying_a_renewing_clients_lease(self):
        # Awake but not yet caught up, a node must say UNAVAILABLE (try again), not NOT_FOUND.
        renewal = self.run.clients["lease0"][5]
        self.run.clients["lease0"][5] = dict(renewal, outcome="failed", code="NOT_FOUND")
        self.run.faults = [{"t": renewal["call"] - 0.05, "action": "SIGCONT", "target": "node %d" % renewal["node"]}]
        self.assert_found("expiry", "kept renewing")

    def test_an_instance_that_outlives_its_stopped_client(self):
        clients = self.run.clients["session0"]
        self.run.clients["session0"] = [c for c in clients if c["call"] < 5.0] + [
            op("session0", "stop", 5.0, 5.0, session=9, cancel=False, instances=[["orders", "s1"]])]
        found = self.assert_found("expiry", "after its client stopped")
        self.assertEqual(found["instance"], "s1")

    def test_a_node_that_does_not_list_what_the_others_do(self):
        self.run.final["nodes"]["2"]["orders"] = []
        self.assert_found("convergence", "nodes list differently")

    def test_nodes_that_agree_on_something_etcd_does_not_hold(self):
        self.run.etcd.append(instance_put(14, 9.0, "orders", "stale"))
        self.run.final["etcd_revision"] = 14
        self.run.clients["lister"].append(op("lister", "register", 8.0, 8.1, service="orders", instance="stale",
                                             node=0))
        self.assert_found("convergence", "not etcd's")

    def test_a_kept_instance_missing_from_a_discover(self):
        self.run.clients["lister"].append(op("lister", "discover", 15.0, 15.1, node=1, service="orders",
                                             instances=[]))
        found = self.assert_found("visibility")
        self.assertEqual(found["instance"], "s1")

    def test_a_discover_after_the_final_listing_is_the_teardown(self):
        # The run ends at the final listing: the harness then stops its
        # clients (a session's stream ends, its instances go) while the
        # lister may still be listing.
        self.run.clients["session0"] += [op("session0", "keep_alive", 28.0 + 0.6 * i, 28.05 + 0.6 * i, node=0,
                                            session=9) for i in range(3)]
        self.run.clients["lister"].append(op("lister", "discover", 28.5, 28.6, node=0, service="orders",
                                             instances=[]))
        verdict = self.verdict()
        self.assertTrue(verdict["ok"], verdict["violations"])

    def test_an_expiry_while_the_client_renews(self):
        self.run.watches["watch0"].append(response(9.0, 14 * SHIFT + 1, [
            ["REMOVED", "orders", "s1", 14 * SHIFT + 1, "EXPIRED"]]))
        self.assert_found("expiry", "expired while its client renewed")

    def test_a_registryd_that_did_not_stop_cleanly(self):
        self.run.unclean = "registryd exited with code 1 after SIGTERM, want 0"
        self.assert_found("process")

    def test_an_incomplete_etcd_history_holds_its_rules_back(self):
        del self.run.watches["watch0"][3]  # a gap, which the full history would show
        self.run.etcd.append({"kind": "gap", "t": 8.0, "revision": 14, "reason": "compacted"})
        verdict = self.verdict()
        self.assertFalse(verdict["etcd_history_complete"])
        self.assertEqual([v for v in verdict["violations"] if v.get("what") == "not etcd's history"], [])

    def test_an_acknowledged_registration_lost_by_a_crash(self):
        self.run.meta["mode"] = "standalone"
        self.run.etcd = []
        self.run.final["nodes"] = {"0": {"orders": ["s1"], "payments": [], "search": []}}
        self.run.faults = [{"t": 5.0, "action": "kill -9", "target": "node 0"},
                           {"t": 5.5, "action": "restart", "target": "node 0"}]
        self.run.recovered = {"call": 5.6, "return": 5.7, "instances": {"orders": [], "payments": [], "search": []}}
        found = self.assert_found("durability")
        self.assertIn(found["instance"], ("a1", "s1"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
