"""registry_bench's report: the --json objects carry every figure the README
promises, --progress reports on stderr, the table shows the ratios, and a
scenario a target lacks is a clear error.

Usage: registry_bench_output_test.py REGISTRY_BENCH REGISTRYD
"""
import json
import re
import subprocess
import sys
import unittest

BENCH, REGISTRYD = sys.argv[1], sys.argv[2]
COMMON = ["--spawn", REGISTRYD, "--server-cpus", "0-1", "--client-cpus", "0-1", "--warmup", "0s"]


def run_bench(*args):
    return subprocess.run([BENCH, *COMMON, *args], capture_output=True, text=True, timeout=100)


class JsonAndProgress(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.result = run_bench("--json", "--progress", "--scenario", "heartbeat,scale", "--compare", "ceiling",
                               "--duration", "2s", "--leases", "3000")

    def test_exits_cleanly(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)

    def test_one_object_per_target_and_phase(self):
        objects = [json.loads(line) for line in self.result.stdout.splitlines()]
        self.assertEqual(
            [(o["target"], o["scenario"], o["phase"]) for o in objects],
            [("registryd", "heartbeat", "heartbeat"), ("ceiling", "heartbeat", "heartbeat"),
             ("registryd", "scale", "scale-register"), ("registryd", "scale", "scale-heartbeat"),
             ("ceiling", "scale", "scale-register"), ("ceiling", "scale", "scale-heartbeat")])
        for o in objects:
            with self.subTest(target=o["target"], phase=o["phase"]):
                self.assertEqual(o["api"], "native")
                self.assertGreater(o["ops"], 0)
                self.assertAlmostEqual(o["ops_per_s"], o["ops"] / o["seconds"], delta=0.01 * o["ops_per_s"] + 1)
                self.assertLessEqual(o["p50_us"], o["p90_us"])
                self.assertLessEqual(o["p90_us"], o["p99_us"])
                self.assertLessEqual(o["p99_us"], o["p999_us"])
                self.assertEqual(o["errors"], {})
                self.assertGreater(o["server_cpu_s_per_million_ops"], 0)
                self.assertGreater(o["server_peak_rss_bytes"], 1_000_000)
        registrations = [o for o in objects if o["phase"] == "scale-register"]
        self.assertEqual([o["ops"] for o in registrations], [3000, 3000])
        self.assertTrue(all(o["rss_per_lease_bytes"] > 0 for o in registrations))

    def test_progress_lines_on_stderr(self):
        progress = re.findall(r"^\s*\.\.\. (\d+) calls measured$", self.result.stderr, re.MULTILINE)
        self.assertGreaterEqual(len(progress), 2, self.result.stderr)


class Table(unittest.TestCase):
    def test_rows_and_ratios(self):
        result = run_bench("--scenario", "register", "--compare", "ceiling", "--duration", "1s")
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertRegex(lines[0], r"^target\s+scenario\s+api\s+calls/s\s+p50 us")
        self.assertRegex(lines[1], r"^registryd\s+register\s+native\s+\d+")
        self.assertRegex(lines[2], r"^ceiling\s+register\s+native\s+\d+")
        self.assertRegex(lines[3],
                         r"^ratio registryd/ceiling register: throughput \d+\.\d\dx, p99 \d+\.\d\dx, "
                         r"cpu per call \d+\.\d\dx$")

    def test_a_baseline_build_is_measured_beside_spawn(self):
        # The same binary stands for an earlier build here: its row and the ratio.
        result = run_bench("--scenario", "heartbeat", "--baseline", REGISTRYD, "--duration", "1s", "--leases", "1000")
        self.assertEqual(result.returncode, 0, result.stderr)
        rows = [line.split()[0] for line in result.stdout.splitlines() if re.match(r"^(registryd|baseline)\s", line)]
        self.assertEqual(rows, ["registryd", "baseline"])
        self.assertRegex(result.stdout, r"ratio registryd/baseline heartbeat: throughput \d+\.\d\dx")

    def test_rounds_give_each_ratio_with_its_spread(self):
        result = run_bench("--scenario", "heartbeat", "--compare", "ceiling", "--duration", "1s", "--repeat", "2",
                           "--leases", "1000")
        self.assertEqual(result.returncode, 0, result.stderr)
        rows = [line for line in result.stdout.splitlines() if re.match(r"^(registryd|ceiling)\s", line)]
        self.assertEqual([row.split()[0] for row in rows], ["registryd", "ceiling", "registryd", "ceiling"])
        self.assertRegex(result.stdout,
                         r"ratio registryd/ceiling heartbeat: throughput median \d+\.\d\dx "
                         r"\(\d+\.\d\d-\d+\.\d\d\), p99 median")


class Overload(unittest.TestCase):
    def test_every_step_and_the_figures_the_readme_promises(self):
        result = run_bench("--json", "--scenario", "overload", "--overload-steps", "1s,1s,1s")
        self.assertEqual(result.returncode, 0, result.stderr)
        phases = {o["phase"]: o for o in map(json.loads, result.stdout.splitlines())}
        self.assertEqual(list(phases), ["overload-capacity", "overload-calibration", "overload-capacity-overloaded",
                                        "overload-before", "overload-high", "overload-after",
                                        "overload-calibration-after"])
        for step in ("overload-before", "overload-high", "overload-after"):
            with self.subTest(step=step):
                self.assertGreater(phases[step]["utilisation"], 0)
        after = phases["overload-after"]
        for figure in ("leases_lost", "recovery_s", "expired", "expiry_holds"):
            with self.subTest(figure=figure):
                self.assertGreaterEqual(after[figure], 0)
        # What a renewal costs after the run, against the calibration: the
        # same calls at the same rate beside the same neighbour.
        recalibrated = phases["overload-calibration-after"]
        self.assertEqual(recalibrated["errors"], {})
        self.assertAlmostEqual(recalibrated["cost_over_calibration"],
                               recalibrated["server_cpu_s_per_million_ops"]
                               / phases["overload-calibration"]["server_cpu_s_per_million_ops"], delta=0.01)


class Errors(unittest.TestCase):
    def test_scenario_the_api_lacks(self):
        result = run_bench("--scenario", "find", "--api", "native", "--duration", "1s")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("scenario find does not exist for registryd --api native", result.stderr)

    def test_compare_without_spawn(self):
        result = subprocess.run([BENCH, "--target", "127.0.0.1:1", "--compare", "ceiling"], capture_output=True,
                                text=True, timeout=30)
        self.assertEqual(result.returncode, 2)
        self.assertIn("--compare, --cluster and --baseline need --spawn", result.stderr)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
