#!/usr/bin/env python3
"""registryd's command line: --help documents every flag, bad values are
refused with a message naming the flag, a busy port is a clean error."""
import socket
import subprocess
import sys
import unittest

REGISTRYD = None
FLAGS = ["--listen", "--threads", "--lease-ttl", "--min-ttl", "--max-ttl", "--tick",
         "--max-instances", "--shutdown-timeout", "--log-level", "--tls-cert", "--tls-key", "--tls-client-ca",
         "--seed-api"]


def run(*args):
    # The HTTP face on a free port: tests run side by side.
    return subprocess.run([REGISTRYD, "--http-listen", "127.0.0.1:0", *args], capture_output=True, text=True,
                          timeout=30)


class CommandLineTest(unittest.TestCase):
    def test_help_documents_every_flag_with_its_default(self):
        result = run("--help")
        self.assertEqual(result.returncode, 0)
        for flag in FLAGS:
            self.assertIn(flag, result.stdout)
        for default in ["[::]:50051", "60s", "100ms", "1000000", "info"]:
            self.assertIn(default, result.stdout)

    def test_bad_values_are_refused_naming_the_flag(self):
        for args, named in [(["--lease-ttl", "soon"], "soon"), (["--tick", "0s"], "0s"),
                            (["--threads", "0"], "--threads"), (["--log-level", "loud"], "--log-level"),
                            (["--max-instances", "0"], "--max-instances"), (["--no-such-flag"], "--no-such-flag"),
                            (["--seed-api", "maybe"], "--seed-api"),
                            (["--min-ttl", "10s", "--max-ttl", "1s"], "--min-ttl")]:
            result = run(*args)
            self.assertNotEqual(result.returncode, 0, args)
            self.assertIn(named, result.stdout + result.stderr, args)

    def test_a_port_in_use_is_a_clean_error(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            result = run("--listen", f"127.0.0.1:{port}", "--data-dir", "")
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"cannot listen on 127.0.0.1:{port}", result.stderr)


if __name__ == "__main__":
    REGISTRYD = sys.argv.pop(1)
    unittest.main()
