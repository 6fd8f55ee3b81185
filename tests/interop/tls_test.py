#!/usr/bin/env python3
"""TLS and mutual TLS end to end: registryd with the certificates of a CA made
here with openssl, registryctl as its client. Under TLS a client that trusts
another CA or speaks plaintext is refused; under mutual TLS a client without
a certificate, or with one of another CA, is refused. Plaintext on a
non-loopback address warns at start-up.

Usage: tls_test.py REGISTRYCTL REGISTRYD [REGISTRY_BENCH]
(with REGISTRY_BENCH, also: registry_bench measures a registryd over mutual TLS)
"""
import http.client
import os
import ssl
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

from certificates import Authority
from registry_process import TIMEOUT, Registry

REGISTRYCTL = None
REGISTRYD = None
REGISTRY_BENCH = None


def ctl(target, *args):
    return subprocess.run([REGISTRYCTL, "--target", target, *args], capture_output=True, text=True,
                          timeout=TIMEOUT)


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.TemporaryDirectory()
        cls.ca = Authority(cls.directory.name, "registry-ca")
        cls.other_ca = Authority(cls.directory.name, "other-ca")
        cls.server_cert, cls.server_key = cls.ca.issue("registryd", "IP:127.0.0.1,DNS:localhost")
        cls.client_cert, cls.client_key = cls.ca.issue("client", "DNS:client")
        cls.stranger_cert, cls.stranger_key = cls.other_ca.issue("stranger", "DNS:stranger")

    @classmethod
    def tearDownClass(cls):
        cls.directory.cleanup()

    def start(self, *extra):
        registry = Registry(REGISTRYD, extra=["--tls-cert", self.server_cert, "--tls-key", self.server_key, *extra])
        self.addCleanup(registry.stop)
        return registry

    def assertRefused(self, result):
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
        self.assertIn("registryctl: ", result.stderr)

    def test_tls_serves_clients_that_trust_its_ca(self):
        registry = self.start()
        self.assertIn("(TLS, ", registry.startup)
        registered = ctl(registry.address, "--tls-ca", self.ca.cert, "register", "--service", "secure",
                         "--address", "10.0.0.1:80", "--instance-id", "s-1")
        self.assertEqual(registered.returncode, 0, registered.stderr)
        found = ctl(registry.address, "--tls-ca", self.ca.cert, "discover", "secure", "--json")
        self.assertEqual(found.returncode, 0, found.stderr)
        self.assertIn('"s-1"', found.stdout)

    def test_tls_refuses_plaintext_and_clients_of_another_ca(self):
        registry = self.start()
        self.assertRefused(ctl(registry.address, "--timeout", "2s", "ls"))
        self.assertRefused(ctl(registry.address, "--timeout", "2s", "--tls-ca", self.other_ca.cert, "ls"))

    def test_server_name_override(self):
        registry = self.start()
        port = registry.address.rsplit(":", 1)[1]
        # Dialled by another name than the certificate's: verified against the one given.
        result = ctl(f"127.0.0.1:{port}", "--tls-ca", self.ca.cert, "--tls-server-name", "localhost", "ls")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRefused(ctl(f"127.0.0.1:{port}", "--timeout", "2s", "--tls-ca", self.ca.cert,
                               "--tls-server-name", "elsewhere.example", "ls"))

    def test_mutual_tls_requires_a_certificate_of_its_client_ca(self):
        registry = self.start("--tls-client-ca", self.ca.cert)
        self.assertIn("(mutual TLS, ", registry.startup)
        trusted = ["--tls-ca", self.ca.cert]
        self.assertRefused(ctl(registry.address, "--timeout", "2s", *trusted, "ls"))
        self.assertRefused(ctl(registry.address, "--timeout", "2s", *trusted, "--tls-cert", self.stranger_cert,
                               "--tls-key", self.stranger_key, "ls"))
        accepted = ctl(registry.address, *trusted, "--tls-cert", self.client_cert, "--tls-key", self.client_key,
                       "health")
        self.assertEqual(accepted.returncode, 0, accepted.stderr)
        self.assertEqual(accepted.stdout.strip(), "SERVING")

    def https_get(self, registry, path, client_cert=None, client_key=None, ca=None):
        """(status, body) from the HTTP face over HTTPS; raises on a refused handshake."""
        context = ssl.create_default_context(cafile=ca or self.ca.cert)
        if client_cert:
            context.load_cert_chain(client_cert, client_key)
        url = registry.http_url
        with urllib.request.urlopen(url + path, timeout=TIMEOUT, context=context) as reply:
            return reply.status, reply.read().decode()

    def test_the_http_face_serves_https_with_the_same_certificates(self):
        registry = self.start()
        self.assertTrue(registry.http_url.startswith("https://"), registry.stderr_text())
        self.assertEqual(self.https_get(registry, "/healthz"), (200, '{"status":"ok"}'))
        with self.assertRaises((ssl.SSLError, urllib.error.URLError)):  # a client that trusts another CA
            self.https_get(registry, "/healthz", ca=self.other_ca.cert)
        plain = registry.http_url.replace("https://", "http://")
        with self.assertRaises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
            urllib.request.urlopen(plain + "/healthz", timeout=TIMEOUT).read()

    def test_the_http_face_requires_a_client_certificate_under_mutual_tls(self):
        registry = self.start("--tls-client-ca", self.ca.cert)
        self.assertEqual(self.https_get(registry, "/readyz", self.client_cert, self.client_key)[0], 200)
        for cert, key in [(None, None), (self.stranger_cert, self.stranger_key)]:
            with self.assertRaises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
                self.https_get(registry, "/readyz", cert, key)

    def test_bad_settings_are_clear_errors(self):
        run = lambda *args: subprocess.run([REGISTRYD, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                                            "--dns-listen", "127.0.0.1:0", "--data-dir", "", *args],
                                           capture_output=True, text=True, timeout=TIMEOUT)
        alone = run("--tls-key", self.server_key)
        self.assertEqual(alone.returncode, 1)
        self.assertIn("--tls-cert and --tls-key go together", alone.stderr)
        client_ca_alone = run("--tls-client-ca", self.ca.cert)
        self.assertEqual(client_ca_alone.returncode, 1)
        self.assertIn("--tls-client-ca needs --tls-cert and --tls-key", client_ca_alone.stderr)
        not_a_certificate = run("--tls-cert", self.server_key, "--tls-key", self.server_key)
        self.assertEqual(not_a_certificate.returncode, 1)
        self.assertIn("with TLS", not_a_certificate.stderr)
        missing = run("--tls-cert", self.ca.path("no-such.crt"), "--tls-key", self.server_key)
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("--tls-cert", missing.stderr + missing.stdout)
        client_key_alone = ctl("127.0.0.1:1", "--tls-ca", self.ca.cert, "--tls-key", self.client_key, "ls")
        self.assertEqual(client_key_alone.returncode, 2)
        self.assertIn("--tls-cert and --tls-key go together", client_key_alone.stderr)


    def test_registry_bench_over_mutual_tls(self):
        if REGISTRY_BENCH is None:
            self.skipTest("registry_bench not given")
        tls_args = ["--tls-ca", self.ca.cert, "--tls-cert", self.client_cert, "--tls-key", self.client_key]
        server_args = [f"--server-arg={flag}={value}" for flag, value in [
            ("--tls-cert", self.server_cert), ("--tls-key", self.server_key), ("--tls-client-ca", self.ca.cert)]]
        run = lambda *args: subprocess.run(
            [REGISTRY_BENCH, "--spawn", REGISTRYD, "--server-cpus", "0-1", "--client-cpus", "0-1", "--duration",
             "1s", "--warmup", "0s", "--leases", "500", "--json", *args], capture_output=True, text=True,
            timeout=120)
        measured = run("--scenario", "heartbeat", *tls_args, *server_args)
        self.assertEqual(measured.returncode, 0, measured.stderr)
        self.assertIn('"errors":{}', measured.stdout.replace(" ", ""))
        without_client_cert = run("--scenario", "heartbeat", "--tls-ca", self.ca.cert, *server_args)
        self.assertNotEqual(without_client_cert.returncode, 0)
        self.assertIn("cannot connect", without_client_cert.stderr)


class PlaintextWarningTest(unittest.TestCase):
    def test_warns_on_a_non_loopback_address_only(self):
        for listen, warned in [("[::]:0", True), ("0.0.0.0:0", True), ("127.0.0.1:0", False),
                               ("[::1]:0", False)]:
            with self.subTest(listen=listen):
                registry = Registry(REGISTRYD, listen=listen)
                rest = registry.stop()
                self.assertEqual("serving plaintext on" in rest, warned, registry.startup + rest)
                self.assertIn("(plaintext, seed API on, ", registry.startup)

    def test_the_http_face_warns_on_a_non_loopback_address_only(self):
        for listen, warned in [("0.0.0.0:0", True), ("[::]:0", True), ("127.0.0.1:0", False)]:
            with self.subTest(http_listen=listen):
                registry = Registry(REGISTRYD, extra=["--http-listen", listen])
                log = registry.startup + registry.stop()
                self.assertEqual("serving HTTP in plaintext on" in log, warned, log)


if __name__ == "__main__":
    REGISTRYCTL, REGISTRYD = sys.argv.pop(1), sys.argv.pop(1)
    if len(sys.argv) > 1 and os.access(sys.argv[1], os.X_OK):
        REGISTRY_BENCH = sys.argv.pop(1)
    unittest.main(verbosity=2)
