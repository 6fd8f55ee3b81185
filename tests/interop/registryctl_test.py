#!/usr/bin/env python3
"""registryctl end to end against a real registryd: every subcommand, its
output and exit code; a clear one-line error when the registry is down; and
the `keep` sidecar: renews, registers again after a registry restart,
deregisters on Ctrl-C, and with --bind its instance goes when it is killed.

Usage: registryctl_test.py REGISTRYCTL REGISTRYD
"""
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import unittest

from registry_process import TIMEOUT, Registry as RegistryProcess, wait_for

REGISTRYCTL = None
REGISTRYD = None


def Registry(listen="127.0.0.1:0"):
    return RegistryProcess(REGISTRYD, listen)


class Lines:
    """The lines a process writes to one of its pipes, read on a thread so a
    test can wait for a line with a timeout."""

    def __init__(self, pipe):
        self.lines = queue.Queue()
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe):
        for line in pipe:
            self.lines.put(line.rstrip("\n"))

    def next(self):
        return self.lines.get(timeout=TIMEOUT)

    def until(self, pattern):
        """Skips lines up to the first that matches `pattern`; returns it."""
        while True:
            line = self.next()
            if re.search(pattern, line):
                return line


def ctl(*args, target=None):
    command = [REGISTRYCTL, *args] + (["--target", target] if target else [])
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)


class RegistryctlTest(unittest.TestCase):
    def setUp(self):
        self.registry = Registry()
        self.target = self.registry.address

    def tearDown(self):
        self.registry.stop()

    def ids(self, service):
        result = ctl("discover", service, "--json", target=self.target)
        self.assertEqual(result.returncode, 0, result.stderr)
        return sorted(instance["instance_id"] for instance in json.loads(result.stdout).get("instances", []))

    def test_register_discover_heartbeat_ls_deregister(self):
        # --target before the subcommand here, after it elsewhere.
        registered = ctl("--target", self.target, "register", "--service", "web", "--address", "127.0.0.1:8080",
                         "--instance-id", "web-1", "--meta", "zone=eu-1", "--meta", "version=2", "--ttl", "30s")
        self.assertEqual(registered.returncode, 0, registered.stderr)
        match = re.fullmatch(r"lease (0x[0-9a-f]{16}) instance web-1 ttl 30s\n", registered.stdout)
        self.assertIsNotNone(match, registered.stdout)
        lease = match.group(1)

        table = ctl("discover", "web", target=self.target)
        self.assertEqual(table.returncode, 0, table.stderr)
        header, row = table.stdout.splitlines()
        self.assertEqual(header.split(), ["INSTANCE", "ADDRESS", "OVERLOADED", "TTL", "LEFT", "METADATA"])
        self.assertEqual(row.split()[:3], ["web-1", "127.0.0.1:8080", "no"])
        self.assertEqual(row.split()[-1], "version=2,zone=eu-1")

        beat = ctl("heartbeat", lease, "--overloaded", target=self.target)
        self.assertEqual(beat.returncode, 0, beat.stderr)
        self.assertEqual(beat.stdout, f"renewed lease {lease} for 30s\n")
        found = json.loads(ctl("discover", "web", "--json", target=self.target).stdout)
        self.assertEqual(found["instances"][0]["address"], "127.0.0.1:8080")
        self.assertTrue(found["instances"][0]["overloaded"])
        self.assertEqual(found["instances"][0]["metadata"], {"zone": "eu-1", "version": "2"})

        listed = ctl("ls", target=self.target)
        self.assertEqual(listed.stdout.splitlines()[1].split(), ["web", "1"])
        self.assertEqual(json.loads(ctl("ls", "--json", target=self.target).stdout),
                         {"services": [{"name": "web", "instances": 1}]})

        gone = ctl("deregister", lease, target=self.target)
        self.assertEqual(gone.returncode, 0, gone.stderr)
        self.assertEqual(self.ids("web"), [])
        again = ctl("deregister", lease, target=self.target)
        self.assertEqual(again.returncode, 1)
        self.assertEqual(len(again.stderr.splitlines()), 1)
        self.assertIn("registryctl: deregister: NOT_FOUND", again.stderr)

    def test_health(self):
        result = ctl("health", target=self.target)
        self.assertEqual((result.returncode, result.stdout), (0, "SERVING\n"))
        result = ctl("health", "registry.v1.Registry", target=self.target)
        self.assertEqual((result.returncode, result.stdout), (0, "SERVING\n"))

    def test_refusals_are_one_line_with_a_non_zero_exit(self):
        bad = ctl("register", "--service", "web", "--address", "no-port", target=self.target)
        self.assertEqual(bad.returncode, 1)
        self.assertEqual(len(bad.stderr.splitlines()), 1)
        self.assertIn("INVALID_ARGUMENT", bad.stderr)
        self.assertIn("address", bad.stderr)
        self.assertEqual(ctl("heartbeat", "not-a-lease", target=self.target).returncode, 2)
        self.assertEqual(ctl("register", "--service", "web", "--address", "h:1", "--meta", "novalue",
                             target=self.target).returncode, 2)

    def test_keep_renews_and_deregisters_on_ctrl_c(self):
        keep = subprocess.Popen([REGISTRYCTL, "keep", "--service", "kept", "--address", "127.0.0.1:9",
                                 "--instance-id", "k1", "--ttl", "1s", "--target", self.target],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertTrue(wait_for(lambda: self.ids("kept") == ["k1"]))
            # An instance nobody renews expires; the kept one outlives it.
            ctl("register", "--service", "kept", "--address", "127.0.0.1:10", "--instance-id", "left",
                "--ttl", "1s", target=self.target)
            self.assertTrue(wait_for(lambda: self.ids("kept") == ["k1"]))
            keep.send_signal(signal.SIGINT)
            out, err = keep.communicate(timeout=TIMEOUT)
        finally:
            keep.kill()
        self.assertEqual(keep.returncode, 0, err)
        self.assertIn("deregistered kept/k1", out)
        self.assertEqual(self.ids("kept"), [])  # at once, not at the end of the TTL

    def test_keep_registers_again_after_a_registry_restart(self):
        keep = subprocess.Popen([REGISTRYCTL, "keep", "--service", "kept", "--address", "127.0.0.1:9",
                                 "--ttl", "2s", "--target", self.target],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertTrue(wait_for(lambda: len(self.ids("kept")) == 1))
            first_id = self.ids("kept")[0]
            self.registry.stop()  # forgets everything
            self.registry = Registry(listen=self.target)
            self.assertTrue(wait_for(lambda: self.ids("kept") == [first_id]))  # same instance id
            keep.send_signal(signal.SIGTERM)
            _, err = keep.communicate(timeout=TIMEOUT)
        finally:
            keep.kill()
        self.assertEqual(keep.returncode, 0, err)
        self.assertIn("registering again", err)

    def test_a_bound_keep_killed_with_sigkill_loses_its_instance_at_once(self):
        keep = subprocess.Popen([REGISTRYCTL, "keep", "--bind", "--service", "bound", "--address", "127.0.0.1:9",
                                 "--ttl", "10m", "--target", self.target],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertTrue(wait_for(lambda: len(self.ids("bound")) == 1))
        finally:
            keep.kill()  # SIGKILL: no deregistration from the client
            keep.communicate(timeout=TIMEOUT)
        self.assertTrue(wait_for(lambda: self.ids("bound") == []))  # long before the 10 minute TTL


    def test_keep_session_keeps_many_instances_in_one_session_and_closes_it_on_ctrl_c(self):
        with tempfile.NamedTemporaryFile("w", suffix=".instances", delete=False) as listing:
            listing.write("# the host's servers\n"
                          "web 127.0.0.1:8081 web-1 zone=eu-1\n"
                          "web 127.0.0.1:8082 web-2\n"
                          "\n"
                          "db 127.0.0.1:5432 db-1\n")
        self.addCleanup(os.unlink, listing.name)
        keep = subprocess.Popen([REGISTRYCTL, "keep", "--session", "--instances-file", listing.name,
                                 "--instance", "cache 127.0.0.1:6379 cache-1", "--ttl", "1s",
                                 "--target", self.target],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out = Lines(keep.stdout)
            self.assertRegex(out.next(), r"^opened session 0x[0-9a-f]{16} ttl 1s grace 1s$")
            self.assertTrue(wait_for(lambda: (self.ids("web"), self.ids("db"), self.ids("cache")) ==
                                     (["web-1", "web-2"], ["db-1"], ["cache-1"])))
            found = json.loads(ctl("discover", "web", "--json", target=self.target).stdout)
            self.assertEqual({i["instance_id"]: i["metadata"] for i in found["instances"]},
                             {"web-1": {"zone": "eu-1"}, "web-2": {}})
            listed = ctl("sessions", target=self.target)
            self.assertEqual(listed.returncode, 0, listed.stderr)
            header, row = listed.stdout.splitlines()
            self.assertEqual(header.split(), ["SESSION", "INSTANCES", "TTL", "LEFT", "STREAM", "PEER", "OWNER"])
            self.assertRegex(row, r"^0x[0-9a-f]{16} +4 +1s +\S+ +open +ipv[46]:\S+ +-$")
            sessions = json.loads(ctl("sessions", "--json", target=self.target).stdout)["sessions"]
            self.assertEqual([(s["instances"], s["attached"]) for s in sessions], [(4, True)])
            # An instance nobody renews expires; the session's outlive their 1 s.
            ctl("register", "--service", "web", "--address", "127.0.0.1:10", "--instance-id", "left",
                "--ttl", "1s", target=self.target)
            self.assertTrue(wait_for(lambda: self.ids("web") == ["web-1", "web-2"]))
            keep.send_signal(signal.SIGINT)
            self.assertRegex(out.until(r"^closed session"), r"^closed session 0x[0-9a-f]{16}$")
            keep.wait(timeout=TIMEOUT)
        finally:
            keep.kill()
        self.assertEqual(keep.returncode, 0, keep.stderr.read())
        self.assertEqual((self.ids("web"), self.ids("db"), self.ids("cache")), ([], [], []))  # at once

    def test_keep_session_opens_a_new_session_after_a_registry_restart(self):
        keep = subprocess.Popen([REGISTRYCTL, "keep", "--session", "--instance", "web 127.0.0.1:8081",
                                 "--ttl", "2s", "--target", self.target],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertTrue(wait_for(lambda: len(self.ids("web")) == 1))
            first_id = self.ids("web")[0]
            self.registry.stop()  # forgets everything, the session too
            self.registry = Registry(listen=self.target)
            restored = wait_for(lambda: self.ids("web") == [first_id])  # same instance id
            keep.send_signal(signal.SIGTERM)
            _, err = keep.communicate(timeout=TIMEOUT)
        finally:
            keep.kill()
        self.assertTrue(restored, err)
        self.assertEqual(keep.returncode, 0, err)
        self.assertIn("opening a new session", err)

    def keep_session(self, *flags):
        """A `keep --session` client process keeping web-1 and web-2, once both are listed."""
        keep = subprocess.Popen([REGISTRYCTL, "keep", "--session", "--instance", "web 127.0.0.1:8081 web-1",
                                 "--instance", "web 127.0.0.1:8082 web-2", *flags, "--target", self.target],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (keep.kill(), keep.communicate(timeout=TIMEOUT)))
        self.assertTrue(wait_for(lambda: self.ids("web") == ["web-1", "web-2"]))
        return keep

    def sessions(self):
        return json.loads(ctl("sessions", "--json", target=self.target).stdout).get("sessions", [])

    def test_keep_session_killed_without_grace_loses_its_instances_with_the_connection(self):
        # A TTL of a minute: only the broken stream can remove them within TIMEOUT.
        keep = self.keep_session("--ttl", "60s", "--grace", "0s")
        keep.kill()  # SIGKILL: the kernel resets the connection, the client says nothing
        self.assertTrue(wait_for(lambda: self.ids("web") == []))
        self.assertEqual(self.sessions(), [])

    def test_keep_session_killed_with_grace_keeps_its_instances_through_the_grace(self):
        keep = self.keep_session("--ttl", "60s", "--grace", "5s")
        keep.kill()
        self.assertTrue(wait_for(lambda: [s["attached"] for s in self.sessions()] == [False]))
        self.assertEqual(self.ids("web"), ["web-1", "web-2"])  # in grace: watchers see nothing yet
        self.assertTrue(wait_for(lambda: self.ids("web") == []))  # the grace, not the minute's TTL
        self.assertEqual(self.sessions(), [])

    def test_keep_session_stopped_expires_its_session_with_the_ttl(self):
        # A TTL of 5 s: still open when looked at just after the stop, gone well within TIMEOUT.
        keep = self.keep_session("--ttl", "5s")
        keep.send_signal(signal.SIGSTOP)  # silent, its connection still open
        self.addCleanup(keep.send_signal, signal.SIGCONT)
        self.assertEqual([s["attached"] for s in self.sessions()], [True])
        self.assertTrue(wait_for(lambda: self.ids("web") == []))
        self.assertEqual(self.sessions(), [])

    def test_keep_session_refuses_a_malformed_instance(self):
        bad = ctl("keep", "--session", "--instance", "web-only", target=self.target)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("SERVICE ADDRESS", bad.stderr)
        none = ctl("keep", target=self.target)
        self.assertEqual(none.returncode, 2)
        self.assertIn("--service and --address are required", none.stderr)

    def test_watch_prints_the_instances_then_a_line_per_change(self):
        ctl("register", "--service", "web", "--address", "127.0.0.1:8080", "--instance-id", "web-1",
            "--meta", "zone=eu-1", target=self.target)
        watch = subprocess.Popen([REGISTRYCTL, "watch", "web", "--target", self.target],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out = Lines(watch.stdout)
            self.assertRegex(out.next(), r"^snapshot at revision \d+$")
            self.assertEqual(out.next(), "= web/web-1 127.0.0.1:8080 zone=eu-1")
            registered = ctl("register", "--service", "web", "--address", "127.0.0.1:8081", "--instance-id",
                             "web-2", target=self.target)
            lease = re.search(r"lease (\S+)", registered.stdout).group(1)
            self.assertEqual(out.next(), "+ web/web-2 127.0.0.1:8081")
            ctl("register", "--service", "web", "--address", "127.0.0.1:8080", "--instance-id", "web-1",
                "--meta", "zone=eu-2", "--overloaded", target=self.target)
            self.assertEqual(out.next(), "~ web/web-1 127.0.0.1:8080 overloaded zone=eu-2")
            ctl("deregister", lease, target=self.target)
            self.assertEqual(out.next(), "- web/web-2 (deregistered)")
        finally:
            watch.send_signal(signal.SIGINT)
            watch.communicate(timeout=TIMEOUT)

    def test_watch_resumes_after_a_registry_restart(self):
        watch = subprocess.Popen([REGISTRYCTL, "watch", "--json", "--target", self.target],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out = Lines(watch.stdout)
            err = Lines(watch.stderr)
            self.assertTrue(json.loads(out.next())["snapshot"])
            self.registry.stop()  # forgets everything, and its revisions
            err.until(r"watch: lost .* resuming from revision \d+")
            self.registry = Registry(listen=self.target)
            ctl("register", "--service", "after", "--address", "127.0.0.1:1", "--instance-id", "a",
                target=self.target)
            resumed = json.loads(out.next())
            self.assertTrue(resumed["snapshot"])
            self.assertTrue(resumed["history_lost"])  # an earlier run's revision: a fresh snapshot
        finally:
            watch.send_signal(signal.SIGINT)
            watch.communicate(timeout=TIMEOUT)


class RegistryDownTest(unittest.TestCase):
    def test_a_clear_one_line_error(self):
        result = ctl("ls", "--timeout", "2s", target="127.0.0.1:1")
        self.assertEqual(result.returncode, 1)
        self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
        self.assertIn("cannot reach the registry at 127.0.0.1:1", result.stderr)


if __name__ == "__main__":
    REGISTRYCTL, REGISTRYD = sys.argv.pop(1), sys.argv.pop(1)
    unittest.main(verbosity=2)
