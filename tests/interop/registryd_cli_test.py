#!/usr/bin/env python3
"""registryd's command line: --help documents every flag, bad values are
refused with a message naming the flag, a busy port is a clean error; flags
from a --config file, --print-config; JSON log lines, and repeated warnings
held back.
Usage: registryd_cli_test.py REGISTRYD REGISTRYCTL"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from certificates import Authority
from registry_process import ServerProcess

REGISTRYD = None
REGISTRYCTL = None
FLAGS = ["--listen", "--threads", "--lease-ttl", "--min-ttl", "--max-ttl", "--tick",
         "--max-instances", "--shutdown-timeout", "--log-level", "--tls-cert", "--tls-key", "--tls-client-ca",
         "--seed-api", "--xds", "--http-listen", "--http-threads", "--dns-listen", "--dns-domain", "--dns-ttl",
         "--log-format", "--config", "--print-config"]


def run(*args):
    # The HTTP and DNS faces on free ports: tests run side by side.
    return subprocess.run([REGISTRYD, "--http-listen", "127.0.0.1:0", "--dns-listen", "127.0.0.1:0", *args],
                          capture_output=True, text=True,
                          timeout=30)


class CommandLineTest(unittest.TestCase):
    def test_help_documents_every_flag_with_its_default(self):
        result = run("--help")
        self.assertEqual(result.returncode, 0)
        for flag in FLAGS:
            self.assertIn(flag, result.stdout)
        for default in ["[::]:50051", "60s", "100ms", "1000000", "info", "127.0.0.1:50080", "127.0.0.1:8600",
                        "registryd.", "text"]:
            self.assertIn(default, result.stdout)

    def test_bad_values_are_refused_naming_the_flag(self):
        for args, named in [(["--lease-ttl", "soon"], ["--lease-ttl soon"]), (["--tick", "0s"], ["--tick 0s", "1ms"]),
                            (["--threads", "0"], ["--threads"]), (["--log-level", "loud"], ["--log-level"]),
                            (["--max-instances", "0"], ["--max-instances"]), (["--no-such-flag"], ["--no-such-flag"]),
                            (["--seed-api", "maybe"], ["--seed-api"]),
                            (["--min-ttl", "10s", "--max-ttl", "1s"], ["--min-ttl"]),
                            (["--dns-domain", "under_score."], ["--dns-domain"]),
                            (["--dns-ttl", "25h"], ["--dns-ttl 25h", "24h"])]:
            result = run(*args)
            self.assertNotEqual(result.returncode, 0, args)
            for part in named:
                self.assertIn(part, result.stdout + result.stderr, args)

    def test_a_port_in_use_is_a_clean_error(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            result = run("--listen", f"127.0.0.1:{port}", "--data-dir", "")
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"cannot listen on 127.0.0.1:{port}", result.stderr)

    def test_a_port_another_registryd_serves_is_a_clean_error(self):
        # gRPC and the HTTP library both ask for SO_REUSEPORT by default, which
        # would let a second registryd share the first's ports and take half
        # of its connections: a port in use is refused whoever holds it.
        first = ServerProcess([REGISTRYD, "--listen", "127.0.0.1:0", "--data-dir", ""])
        self.addCleanup(first.stop)
        grpc_port = int(first.wait_listening().rsplit(":", 1)[1])
        http_port = int(first.http_url.rsplit(":", 1)[1])
        for flag, port in [("--listen", grpc_port), ("--listen", http_port), ("--http-listen", grpc_port),
                           ("--http-listen", http_port)]:
            with self.subTest(flag=flag, port=port):
                listen = ["--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"]
                listen[listen.index(flag) + 1] = f"127.0.0.1:{port}"
                result = subprocess.run([REGISTRYD, *listen, "--dns-listen", "127.0.0.1:0", "--data-dir", ""],
                                        capture_output=True, text=True,
                                        timeout=30)
                self.assertEqual(result.returncode, 1, result.stderr)
                self.assertIn(f"cannot listen on 127.0.0.1:{port}", result.stderr)


class ConfigFileTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.addCleanup(self.directory.cleanup)

    def write(self, text):
        path = os.path.join(self.directory.name, "registryd.toml")
        with open(path, "w") as file:
            file.write(text)
        return path

    def printed(self, *args):
        result = run(*args, "--print-config")
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def test_flags_come_from_the_file_and_the_command_line_overrides_it(self):
        path = self.write('lease-ttl = "7s"\nlog-format = "json"\netcd-endpoints = ["http://a:1", "http://b:2"]\n')
        config = self.printed("--config", path)
        self.assertIn('lease-ttl = "7s"', config)
        self.assertIn('log-format = "json"', config)
        self.assertIn('etcd-endpoints = ["http://a:1", "http://b:2"]', config)
        self.assertIn('lease-ttl = "9s"', self.printed("--config", path, "--lease-ttl", "9s"))

    def test_print_config_reads_back_to_the_same_configuration(self):
        first = self.printed("--listen", "127.0.0.1:7000", "--data-dir", "", "--threads", "3", "--tick", "50ms")
        self.assertIn('data-dir = ""', first)  # memory only, on purpose: kept
        self.assertIn("# tls-cert =", first)  # unset: a comment, not ""
        self.assertNotIn("print-config", first.replace("--print-config", ""))
        self.assertEqual(self.printed("--config", self.write(first)), first)

    def test_a_printed_default_configuration_starts_registryd(self):
        path = self.write(self.printed("--data-dir", ""))
        server = ServerProcess([REGISTRYD, "--config", path, "--listen", "127.0.0.1:0"])
        try:
            server.wait_listening()
            self.assertIn("memory only", server.startup)
        finally:
            server.stop()

    def test_a_bad_file_is_a_clear_error(self):
        unknown = run("--config", self.write('no-such-flag = 1\n'))
        self.assertNotEqual(unknown.returncode, 0)
        self.assertIn("no-such-flag", unknown.stdout + unknown.stderr)
        bad_value = run("--config", self.write('tick = "soon"\n'))
        self.assertNotEqual(bad_value.returncode, 0)
        self.assertIn("soon", bad_value.stdout + bad_value.stderr)
        missing = run("--config", os.path.join(self.directory.name, "missing.toml"))
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("missing.toml", missing.stdout + missing.stderr)


class CheckConfigTest(unittest.TestCase):
    """--check-config reads what registryd would start with and reports every
    error with its file:line:column, without listening."""

    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.addCleanup(self.directory.cleanup)

    def write(self, name, text):
        path = os.path.join(self.directory.name, name)
        with open(path, "w") as file:
            file.write(text)
        return path

    def check(self, *args):
        # Ports another process holds: a check that listened would fail on them.
        return subprocess.run([REGISTRYD, "--check-config", *args], capture_output=True, text=True, timeout=30)

    def test_a_good_configuration_is_fine_and_nothing_listens(self):
        config = self.write("good.toml", subprocess.run([REGISTRYD, "--print-config", "--data-dir", ""],
                                                        capture_output=True, text=True, timeout=30).stdout)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            result = self.check("--config", config, "--listen", f"127.0.0.1:{port}",
                                "--http-listen", f"127.0.0.1:{port}")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("is fine", result.stdout)
        self.assertEqual(result.stderr, "")

    def refusals(self, config, count):
        """--check-config's error lines for `config`, which must be `count`."""
        result = self.check("--config", config)
        self.assertEqual(result.returncode, 1)
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), count, result.stderr)
        return lines

    def test_every_bad_line_of_the_file_is_reported_where_it_is(self):
        config = self.write("bad.toml", '# registryd\nlease-ttl = "7s"\ntick = "soon"\nno-such-flag = 1\n'
                                        'threads = 0\n')
        lines = self.refusals(config, 3)
        self.assertTrue(lines[0].startswith(f"{config}:3:8: tick: "), lines[0])
        self.assertIn("soon", lines[0])
        self.assertTrue(lines[1].startswith(f"{config}:4:1: "), lines[1])
        self.assertIn("no-such-flag", lines[1])
        self.assertTrue(lines[2].startswith(f"{config}:5:11: threads: "), lines[2])

    def test_a_multi_line_array_is_reported_once_where_it_starts(self):
        config = self.write("array.toml", 'etcd-endpoints = [\n  "http://127.0.0.1:2379",\n  "http://127.0.0.1:2380",\n]\n'
                                          'tick = "soon"\n')
        lines = self.refusals(config, 2)
        self.assertTrue(lines[0].startswith(f"{config}:1:18: an array must be on one line"), lines[0])
        self.assertTrue(lines[1].startswith(f"{config}:5:8: tick: "), lines[1])
        # The same array on one line is fine: what registryd itself reads.
        config = self.write("one_line.toml", 'etcd-endpoints = ["http://127.0.0.1:2379", "http://127.0.0.1:2380"]\n')
        result = self.check("--config", config)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_flags_that_cannot_go_together_are_reported(self):
        result = self.check("--min-ttl", "10s", "--max-ttl", "1s", "--data-dir", "")
        self.assertEqual(result.returncode, 1)
        self.assertIn("--min-ttl (10s) must not exceed --max-ttl (1s)", result.stderr)

    def test_the_policy_and_the_tls_files_are_read_as_the_start_reads_them(self):
        policy = self.write("bad.policy", 'grant {\n  identity: "a"\n}\n')
        result = self.check("--authz-policy", policy, "--data-dir", "")
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"{policy}:1:7:", result.stderr)

        authority = Authority(self.directory.name, "ca")
        cert, key = authority.issue("server", san="DNS:localhost")
        other_cert, other_key = authority.issue("other", san="DNS:localhost")
        fine = self.check("--tls-cert", cert, "--tls-key", key, "--tls-client-ca", authority.cert, "--data-dir", "")
        self.assertEqual(fine.returncode, 0, fine.stderr)
        not_a_cert = self.write("not.pem", "hello\n")
        result = self.check("--tls-cert", not_a_cert, "--tls-key", other_key, "--data-dir", "")
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"{not_a_cert}:1:1: holds no PEM certificate", result.stderr)
        result = self.check("--tls-cert", cert, "--tls-key", other_key, "--data-dir", "")
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"{other_key}:1:1: is not the private key of {cert}", result.stderr)


class VersionTest(unittest.TestCase):
    def test_both_programs_say_their_version_and_revision(self):
        for program, name in [(REGISTRYD, "registryd"), (REGISTRYCTL, "registryctl")]:
            result = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=30)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertRegex(result.stdout.strip(), rf"^{name} \d+\.\d+\.\d+ \((\w+(-dirty)?|unknown)\)$")


class SystemdNotifyTest(unittest.TestCase):
    """registryd as systemd's Type=notify service sees it: the datagrams on
    $NOTIFY_SOCKET, here a socket of the test's own."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "notify")
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(self.path)
        self.socket.settimeout(30)

    def tearDown(self):
        self.socket.close()
        self.dir.cleanup()

    def next_state(self, skipping=("WATCHDOG=1",)):
        while True:
            datagram = self.socket.recv(4096).decode()
            if datagram not in skipping:
                return datagram

    def test_ready_once_listening_watchdog_pings_reload_and_stop(self):
        # A 400 ms watchdog: every queue reports each 100 ms.
        env = dict(os.environ, NOTIFY_SOCKET=self.path, WATCHDOG_USEC="400000")
        server = ServerProcess([REGISTRYD, "--listen", "127.0.0.1:0", "--threads", "2", "--data-dir", ""], env=env)
        try:
            ready = self.next_state()
            self.assertRegex(ready, r"^READY=1\nSTATUS=serving on 127\.0\.0\.1:\d+$")
            port = int(ready.rsplit(":", 1)[1])
            with socket.create_connection(("127.0.0.1", port), timeout=30):
                pass  # the port listened when READY=1 was sent
            pings = [self.socket.recv(4096).decode() for _ in range(5)]
            self.assertEqual(pings, ["WATCHDOG=1"] * 5)
            server.proc.send_signal(signal.SIGHUP)
            self.assertRegex(self.next_state(), r"^RELOADING=1\nMONOTONIC_USEC=\d+$")
            self.assertTrue(self.next_state().startswith("READY=1"))
            server.proc.send_signal(signal.SIGTERM)
            self.assertEqual(self.next_state(), "STOPPING=1")
            self.assertEqual(server.proc.wait(timeout=30), 0)
        finally:
            if server.proc.poll() is None:
                server.stop()
            server.kill()  # joins its stderr's reader
        self.assertIn("systemd watchdog: 400ms, pinged every 100ms while all 2 queue threads run",
                      server.stderr_text())


class LogTest(unittest.TestCase):
    def test_json_lines_with_fields_and_repeated_warnings_held_back(self):
        server = ServerProcess([REGISTRYD, "--listen", "127.0.0.1:0", "--data-dir", "", "--log-format", "json"])
        try:
            server.wait_listening()
            started = time.monotonic()
            for _ in range(30):  # an invalid address, again and again: a warning each
                subprocess.run([REGISTRYCTL, "--target", server.address, "register", "--service", "s",
                                "--address", "not an address"], capture_output=True, timeout=30)
            took = time.monotonic() - started
        finally:
            server.stop()
        lines = [json.loads(line) for line in server.stderr_text().splitlines()]  # every line is JSON
        for line in lines:
            self.assertEqual(set(line) - {"suppressed", "method", "peer", "code"}, {"time", "level", "message"})
            self.assertRegex(line["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertTrue(any("listening on" in line["message"] for line in lines))
        failed = [line for line in lines if line.get("method") == "registry.v1.Registry/Register"]
        # 10 lines per 10 s, the rest held back: exactly 10 when the calls
        # took under 10 s (a build under a sanitizer may take longer, and
        # open more windows).
        windows = 1 + int(took // 10)
        self.assertGreaterEqual(len(failed), 10)
        self.assertLessEqual(len(failed), min(30, 10 * windows))
        self.assertEqual(failed[0]["level"], "warn")
        self.assertEqual(failed[0]["code"], "INVALID_ARGUMENT")
        self.assertTrue(failed[0]["peer"].startswith("ipv4:127.0.0.1:"))
        self.assertIn("address", failed[0]["message"])


if __name__ == "__main__":
    REGISTRYD = sys.argv.pop(1)
    REGISTRYCTL = sys.argv.pop(1)
    unittest.main()
