"""dns_bench.py's report, from runs of a second: both servers answered the
same record sets, every measurement got answers, the registration phases
ran with and without the DNS load, and the table and target lines are well
formed. Never a speed: whether a target is met is the measurement's business.

Usage: dns_bench_output_test.py DNS_BENCH [dns_bench.py flags: --registryd, --nsd, ...]
"""
import json
import os
import re
import subprocess
import sys
import unittest

DNS_BENCH, FLAGS = sys.argv[1], sys.argv[2:]


def two_cpus():
    allowed = sorted(os.sched_getaffinity(0))
    return allowed[:2] if len(allowed) >= 2 else None


def run_bench(*args):
    client, server = two_cpus()
    return subprocess.run([sys.executable, DNS_BENCH, *FLAGS, "--client-cpu", str(client), "--server-cpu",
                           str(server), "--duration", "1", "--warmup", "0", "--retries", "0", *args],
                          capture_output=True, text=True, timeout=150)


@unittest.skipUnless(two_cpus(), "needs two CPUs: one for the servers, one for dnsperf")
class JsonReport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.result = run_bench("--json")
        cls.objects = [json.loads(line) for line in cls.result.stdout.splitlines()] \
            if cls.result.returncode == 0 else []

    def setUp(self):
        self.assertEqual(self.result.returncode, 0, self.result.stdout + self.result.stderr)

    def of(self, measurement):
        return [o for o in self.objects if o["measurement"] == measurement]

    def test_both_servers_answered_the_same_record_sets(self):
        [same] = self.of("same-records")
        self.assertTrue(same["identical"], same["differences"])
        self.assertEqual(same["questions"], 12)
        self.assertIs(self.objects[0], same)  # checked before anything is measured

    def test_every_query_measurement_got_answers(self):
        queries = self.of("queries")
        self.assertEqual(sorted((o["server"], o["type"]) for o in queries),
                         [("nsd", "A"), ("nsd", "SRV"), ("registryd", "A"), ("registryd", "SRV")])
        for o in queries + self.of("changing"):
            with self.subTest(measurement=o["measurement"], server=o["server"], type=o["type"]):
                self.assertGreater(o["queries_completed"], 0)
                self.assertEqual(o["noerror"], o["queries_completed"])
                self.assertGreater(o["queries_per_s"], 0)
                self.assertGreater(o["server_cpu_busy"], 0)
                self.assertGreaterEqual(o["queries_sent"], o["queries_completed"] + o["queries_lost"])

    def test_the_service_changed_while_registryd_was_asked(self):
        changing = self.of("changing")
        self.assertEqual(sorted(o["type"] for o in changing), ["A", "SRV"])
        for o in changing:
            self.assertEqual(o["server"], "registryd")
            self.assertGreater(o["changes_per_s"], 0)

    def test_registration_alone_and_beside_each_dns_load(self):
        registrations = {o["beside"]: o for o in self.of("registration")}
        self.assertEqual(sorted(registrations), ["none", "nsd-dns", "registryd-dns"])
        for beside, o in registrations.items():
            with self.subTest(beside=beside):
                self.assertGreater(o["registrations_per_s"], 0)
                self.assertEqual(o["register_errors"], {})
        self.assertNotIn("dns_queries_completed", registrations["none"])
        self.assertGreater(registrations["registryd-dns"]["dns_queries_completed"], 0)
        self.assertGreater(registrations["nsd-dns"]["dns_queries_completed"], 0)
        # The threads the bench moved are the ones that answered: they worked only under the DNS load.
        self.assertGreater(registrations["registryd-dns"]["registryd_dns_threads_cpu_busy"],
                           registrations["none"]["registryd_dns_threads_cpu_busy"])

    def test_one_line_per_target(self):
        targets = self.of("target")
        self.assertEqual([t["target"] for t in targets],
                         ["SRV queries/s registryd/nsd", "A queries/s registryd/nsd",
                          "SRV queries/s with 100 changes/s / unchanged", "A queries/s with 100 changes/s / unchanged",
                          "registrations/s beside full DNS load / alone"])
        for t in targets:
            with self.subTest(target=t["target"]):
                self.assertGreater(t["ratio"], 0)
                self.assertLessEqual(t["min"], t["ratio"])
                self.assertLessEqual(t["ratio"], t["max"])
                self.assertIsInstance(t["met"], bool)


@unittest.skipUnless(two_cpus(), "needs two CPUs: one for the servers, one for dnsperf")
class Table(unittest.TestCase):
    def test_rows_ratios_and_targets(self):
        result = run_bench("--measure", "queries")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        lines = result.stdout.splitlines()
        self.assertEqual(lines[0], "same records from registryd and NSD (12 questions, with and without EDNS0): yes")
        self.assertRegex(lines[1], r"^round\s+measurement\s+server\s+type\s+changes/s\s+queries/s\s+lost")
        rows = [line.split()[:4] for line in lines[2:6]]
        self.assertEqual(sorted(rows), [["1", "queries", "nsd", "A"], ["1", "queries", "nsd", "SRV"],
                                        ["1", "queries", "registryd", "A"], ["1", "queries", "registryd", "SRV"]])
        for rdtype in ("SRV", "A"):
            self.assertRegex(result.stdout, r"(?m)^ratio registryd/nsd %s: queries/s \d+\.\d\dx( \(.+\))?$" % rdtype)
            self.assertRegex(result.stdout, r"(?m)^target %s queries/s registryd/nsd at least 0\.80x: "
                                            r"\d+\.\d{3}x \(\d+\.\d{3}-\d+\.\d{3}\): (met|MISSED)" % rdtype)
        self.assertNotIn("registration", result.stdout)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
