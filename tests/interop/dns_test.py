#!/usr/bin/python3
"""registryd's DNS face against the real binary, asked by dnspython (Debian's
python3-dnspython) and dig (bind9-dnsutils): every name form and record
type, the registry's changes as they happen (register, deregister, expire,
eject, overloaded, weights), NXDOMAIN against NODATA, REFUSED, truncation and
the same query over TCP, EDNS0 sizes, and malformed packets.
Usage:
  /usr/bin/python3 tests/interop/dns_test.py --registryd build/src/registryd --protos protos \\
      --protoc /usr/bin/protoc --grpc-python-plugin /usr/bin/grpc_python_plugin [--dig /usr/bin/dig] [-v]
"""
import argparse
import hashlib
import os
import re
import signal
import socket
import subprocess
import tempfile
import unittest
import urllib.request

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import grpc

import stubs
from registry_process import ServerProcess, wait_for

ARGS = None
pb = None
RPC_TIMEOUT = 10
DNS_TIMEOUT = 5
WAIT = 20  # seconds: generous, for the sanitizer builds


def setUpModule():
    global pb
    pb = stubs.generate_for(ARGS, "dns_test_")


class DnsFace(unittest.TestCase):
    """One registryd with its DNS face on a free port (FLAGS: more flags)."""

    FLAGS = ()
    CALL_METADATA = None  # sent with the test's gRPC calls

    def flags(self):
        return self.FLAGS

    def setUp(self):
        self.server = ServerProcess([ARGS.registryd, "--listen", "127.0.0.1:0", "--threads", "2", "--min-ttl", "1s",
                                     "--tick", "20ms", "--data-dir", "", *self.flags()])
        self.addCleanup(self.server.stop)
        self.server.wait_listening()
        match = re.search(r"DNS face on 127\.0\.0\.1:(\d+)", self.server.stderr_text())
        self.assertIsNotNone(match, self.server.stderr_text())
        self.port = int(match.group(1))
        self.channel = grpc.insecure_channel(self.server.address)
        self.addCleanup(self.channel.close)
        self.native = pb.registry_pb2_grpc.RegistryStub(self.channel)
        self.seed = pb.registry_service_pb2_grpc.RegistryServiceStub(self.channel)
        self.discovery = pb.discovery_service_pb2_grpc.DiscoveryServiceStub(self.channel)

    def register(self, service, instance_id, address, ttl_ms=60000, metadata=None):
        return self.native.Register(pb.registry_pb2.RegisterRequest(
            service=service, instance_id=instance_id, address=address, ttl_ms=ttl_ms, metadata=metadata or {}),
            timeout=RPC_TIMEOUT, metadata=self.CALL_METADATA).lease_id

    def ask(self, name, rdtype, tcp=False, payload=None, **make):
        """The face's answer to one query (dnspython); `payload`: an EDNS0 size."""
        query = dns.message.make_query(name, rdtype, use_edns=payload is not None, payload=payload or 512, **make)
        query.flags &= ~dns.flags.RD
        ask = dns.query.tcp if tcp else dns.query.udp
        return ask(query, "127.0.0.1", port=self.port, timeout=DNS_TIMEOUT, ignore_trailing=False)

    def records(self, name, rdtype, **kwargs):
        """The answer's records of `rdtype` as text, sorted."""
        reply = self.ask(name, rdtype, **kwargs)
        self.assertEqual(reply.rcode(), dns.rcode.NOERROR, reply)
        return sorted(rdata.to_text() for rrset in reply.answer for rdata in rrset
                      if rrset.rdtype == dns.rdatatype.from_text(rdtype))


class DnsFaceTest(DnsFace):
    """The domain "registryd.", record TTL 0."""

    def test_every_name_form_and_record_type(self):
        self.register("orders", "web-1", "10.0.0.1:8080", metadata={"weight": "5", "zone": "a"})
        self.register("orders", "web-2", "[fd00::2]:8081")
        self.register("orders", "db", "db.example.com:5432")
        # SRV weights are 256 times the weight metadata (default 1) less one: HAProxy divides by 256 and adds 1.
        srv = ["0 1279 8080 web-1.orders.instance.registryd.", "0 255 5432 db.example.com.",
               "0 255 8081 web-2.orders.instance.registryd."]
        self.assertEqual(self.records("orders.service.registryd.", "SRV"), srv)
        self.assertEqual(self.records("_orders._tcp.service.registryd.", "SRV"), srv)
        self.assertEqual(self.records("Orders.SERVICE.Registryd.", "SRV"), srv)  # labels ignore case
        reply = self.ask("orders.service.registryd.", "SRV")
        self.assertTrue(reply.flags & dns.flags.AA)
        additional = sorted((rrset.name.to_text(), rdata.to_text()) for rrset in reply.additional for rdata in rrset)
        self.assertEqual(additional, [("web-1.orders.instance.registryd.", "10.0.0.1"),
                                      ("web-2.orders.instance.registryd.", "fd00::2")])
        self.assertEqual(self.records("orders.service.registryd.", "A"), ["10.0.0.1"])
        self.assertEqual(self.records("orders.service.registryd.", "AAAA"), ["fd00::2"])
        self.assertEqual(self.records("web-1.orders.instance.registryd.", "A"), ["10.0.0.1"])
        self.assertEqual(self.records("web-2.orders.instance.registryd.", "AAAA"), ["fd00::2"])
        self.assertEqual(self.records("web-1.orders.instance.registryd.", "TXT"), ['"weight=5"', '"zone=a"'])
        soa = self.records("registryd.", "SOA")
        self.assertEqual(len(soa), 1)
        self.assertRegex(soa[0], r"^ns\.registryd\. hostmaster\.registryd\. \d+ 3600 600 86400 0$")

    def test_nxdomain_against_nodata(self):
        self.register("orders", "web-1", "10.0.0.1:8080")
        for name in ["nothere.service.registryd.", "web-9.orders.instance.registryd.", "x.y.registryd.",
                     "under_score.service.registryd.", "_orders._udp.service.registryd."]:
            with self.subTest(name=name):
                reply = self.ask(name, "A")
                self.assertEqual(reply.rcode(), dns.rcode.NXDOMAIN)
                self.assertEqual([rrset.rdtype for rrset in reply.authority], [dns.rdatatype.SOA])
        # Names that exist without records of the asked type: NOERROR, no answer, the SOA.
        for name, rdtype in [("orders.service.registryd.", "MX"), ("orders.service.registryd.", "TXT"),
                             ("web-1.orders.instance.registryd.", "AAAA"), ("registryd.", "A"),
                             ("service.registryd.", "A"), ("instance.registryd.", "SRV")]:
            with self.subTest(name=name, rdtype=rdtype):
                reply = self.ask(name, rdtype)
                self.assertEqual(reply.rcode(), dns.rcode.NOERROR)
                self.assertEqual(reply.answer, [])
                self.assertEqual([rrset.rdtype for rrset in reply.authority], [dns.rdatatype.SOA])
                self.assertEqual(reply.authority[0][0].minimum, 0)  # negative answers: --dns-ttl

    def test_names_outside_the_domain_are_refused(self):
        for name in ["example.com.", "registryd.example.", "."]:
            with self.subTest(name=name):
                reply = self.ask(name, "A")
                self.assertEqual(reply.rcode(), dns.rcode.REFUSED)
                self.assertFalse(reply.flags & dns.flags.AA)
                self.assertEqual(reply.answer, [])

    def test_the_answers_follow_the_registry(self):
        lease = self.register("follow", "a", "10.1.0.1:80")
        self.assertEqual(self.records("follow.service.registryd.", "A"), ["10.1.0.1"])
        self.register("follow", "b", "10.1.0.2:80", ttl_ms=1000)  # never renewed: expires
        self.assertEqual(self.records("follow.service.registryd.", "A"), ["10.1.0.1", "10.1.0.2"])
        self.assertTrue(wait_for(lambda: self.records("follow.service.registryd.", "A") == ["10.1.0.1"], WAIT))
        self.assertEqual(self.ask("b.follow.instance.registryd.", "A").rcode(), dns.rcode.NXDOMAIN)
        self.native.Deregister(pb.registry_pb2.DeregisterRequest(lease_id=lease), timeout=RPC_TIMEOUT)
        self.assertEqual(self.ask("follow.service.registryd.", "A").rcode(), dns.rcode.NXDOMAIN)

    def test_ejected_and_overloaded_instances_as_findserver_sees_them(self):
        for server_id, port in [(1, 7001), (2, 7002)]:
            self.seed.discovery(pb.registry_service_pb2.RecordRequest(
                serverId=server_id, serverIp="10.2.0.%d" % server_id, serverPort=port, service="shop"),
                timeout=RPC_TIMEOUT)
        self.assertEqual(self.records("shop.service.registryd.", "A"), ["10.2.0.1", "10.2.0.2"])
        # Ejected (warnServerError): left out until its next heartbeat.
        self.discovery.warnServerError(pb.discovery_service_pb2.ServerError(serverId=1), timeout=RPC_TIMEOUT)
        self.assertEqual(self.records("shop.service.registryd.", "A"), ["10.2.0.2"])
        self.assertEqual(self.records("shop.service.registryd.", "SRV"), ["0 255 7002 2.shop.instance.registryd."])
        self.seed.heartBeat(pb.registry_service_pb2.RenewRequest(serverId=1), timeout=RPC_TIMEOUT)
        self.assertEqual(self.records("shop.service.registryd.", "A"), ["10.2.0.1", "10.2.0.2"])
        # Overloaded: SRV priority 1 and no A while another is not; priority 0 when all are.
        self.seed.heartBeat(pb.registry_service_pb2.RenewRequest(serverId=1, overloaded=True), timeout=RPC_TIMEOUT)
        self.assertEqual(self.records("shop.service.registryd.", "A"), ["10.2.0.2"])
        self.assertEqual(self.records("shop.service.registryd.", "SRV"),
                         ["0 255 7002 2.shop.instance.registryd.", "1 255 7001 1.shop.instance.registryd."])
        self.seed.heartBeat(pb.registry_service_pb2.RenewRequest(serverId=2, overloaded=True), timeout=RPC_TIMEOUT)
        self.assertEqual(self.records("shop.service.registryd.", "SRV"),
                         ["0 255 7001 1.shop.instance.registryd.", "0 255 7002 2.shop.instance.registryd."])
        self.assertEqual(self.records("shop.service.registryd.", "A"), ["10.2.0.1", "10.2.0.2"])

    def test_weights_and_rotation(self):
        for i, weight in enumerate(["1", "100", "0", "101", "x"]):
            self.register("weighted", "w%d" % i, "10.3.0.%d:80" % (i + 1), metadata={"weight": weight})
        weights = sorted(int(record.split()[1]) for record in self.records("weighted.service.registryd.", "SRV"))
        self.assertEqual(weights, [255, 255, 255, 255, 25599])  # 1..100 (x 256 - 1), anything else counts as 1
        firsts = {self.ask("weighted.service.registryd.", "SRV").answer[0][0].to_text() for _ in range(10)}
        self.assertEqual(len(firsts), 5, "each query starts the records at the next one")

    def test_truncation_then_tcp_and_edns_sizes(self):
        for i in range(40):
            self.register("big", "instance-%02d" % i, "10.4.0.%d:80" % (i + 1))
        plain = self.ask("big.service.registryd.", "SRV")
        self.assertTrue(plain.flags & dns.flags.TC)
        self.assertLessEqual(len(plain.to_wire()), 512)
        self.assertGreater(len(plain.answer[0]), 0)
        edns = self.ask("big.service.registryd.", "SRV", payload=1232)
        self.assertTrue(edns.flags & dns.flags.TC)
        self.assertLessEqual(len(edns.to_wire()), 1232)
        self.assertGreater(len(edns.answer[0]), len(plain.answer[0]))
        # A client that offers more gets at most 1232 bytes over UDP all the same.
        large = self.ask("big.service.registryd.", "SRV", payload=65000)
        self.assertLessEqual(len(large.to_wire()), 1232)
        over_tcp = self.ask("big.service.registryd.", "SRV", tcp=True)
        self.assertFalse(over_tcp.flags & dns.flags.TC)
        self.assertEqual(len(over_tcp.answer[0]), 40)
        self.assertEqual(sum(len(rrset) for rrset in over_tcp.additional), 40)

    def test_malformed_packets(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(1)
            sock.connect(("127.0.0.1", self.port))
            # No header to read: no answer at all.
            sock.send(b"\x12\x34\x01")
            with self.assertRaises(socket.timeout):
                sock.recv(4096)
            # A header that promises a question that is not there: FORMERR, no bigger than the query allows.
            sock.send(b"\xab\xcd\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00")
            reply = dns.message.from_wire(sock.recv(4096), question_only=True)
            self.assertEqual(reply.id, 0xabcd)
            self.assertEqual(reply.rcode(), dns.rcode.FORMERR)
            # A response sent to it is not answered (no loops between servers).
            query = dns.message.make_query("orders.service.registryd.", "A")
            query.flags |= dns.flags.QR
            sock.send(query.to_wire())
            with self.assertRaises(socket.timeout):
                sock.recv(4096)
            # Another opcode: NOTIMP.
            notify = dns.message.make_query("orders.service.registryd.", "SOA")
            notify.set_opcode(dns.opcode.NOTIFY)
            sock.send(notify.to_wire())
            self.assertEqual(dns.message.from_wire(sock.recv(4096)).rcode(), dns.rcode.NOTIMP)
        # The face still answers.
        self.assertEqual(self.ask("nothere.service.registryd.", "A").rcode(), dns.rcode.NXDOMAIN)

    def test_metrics_count_queries_by_type_and_answer(self):
        for i in range(20):
            self.register("counted", "i%d" % i, "10.6.0.%d:80" % (i + 1))
        for name, rdtype in [("counted.service.registryd.", "SRV"), ("counted.service.registryd.", "A"),
                             ("counted.service.registryd.", "A"), ("nothere.service.registryd.", "AAAA"),
                             ("counted.service.registryd.", "MX"), ("example.com.", "TXT")]:
            self.ask(name, rdtype)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(DNS_TIMEOUT)
            sock.sendto(b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00", ("127.0.0.1", self.port))
            sock.recv(512)
        with urllib.request.urlopen(self.server.http_url + "/metrics", timeout=RPC_TIMEOUT) as reply:
            text = reply.read().decode()

        def value(type_, answer):
            match = re.search(r'^registryd_dns_queries_total\{type="%s",answer="%s"\} (\S+)$' % (type_, answer),
                              text, re.M)
            return float(match.group(1)) if match else None
        self.assertEqual(value("SRV", "noerror"), 1)
        self.assertEqual(value("A", "noerror"), 2)
        self.assertEqual(value("AAAA", "nxdomain"), 1)
        self.assertEqual(value("other", "nodata"), 1)
        self.assertEqual(value("TXT", "refused"), 1)
        self.assertEqual(value("other", "formerr"), 1)
        self.assertEqual(value("SOA", "noerror"), 0)  # every sample, zero or not
        truncated = re.search(r"^registryd_dns_truncated_total (\S+)$", text, re.M)
        self.assertEqual(float(truncated.group(1)), 1)  # 20 SRV records do not fit 512 bytes, 20 A records do

    def metrics_text(self):
        with urllib.request.urlopen(self.server.http_url + "/metrics", timeout=RPC_TIMEOUT) as reply:
            return reply.read().decode()

    def test_queries_the_kernel_dropped_are_counted(self):
        """registryd stopped while a flood of queries comes: its socket's
        buffer fills and the kernel drops the rest. Every query is then either
        answered or counted as dropped."""
        def counts():
            text = self.metrics_text()
            answered = re.search(r'^registryd_dns_queries_total\{type="A",answer="nxdomain"\} (\S+)$', text, re.M)
            dropped = re.search(r"^registryd_dns_udp_dropped_total (\S+)$", text, re.M)
            return float(answered.group(1)), float(dropped.group(1))
        answered_before, dropped_before = counts()
        query = dns.message.make_query("flood.service.registryd.", "A").to_wire()
        flood = 50000  # more than the largest receive buffer registryd asks for holds (4 MiB)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            os.kill(self.server.proc.pid, signal.SIGSTOP)
            try:
                for _ in range(flood):
                    sock.sendto(query, ("127.0.0.1", self.port))
            finally:
                os.kill(self.server.proc.pid, signal.SIGCONT)

        # Asked after the flood until answered (while the buffer is still
        # full, the kernel drops these too): an answer comes after every
        # query sent before it was read or dropped, and brings the kernel's
        # count of the dropped ones.
        def answered_after_the_flood():
            answered_after_the_flood.asked += 1
            try:
                reply = dns.query.udp(dns.message.make_query("flood.service.registryd.", "A"), "127.0.0.1",
                                      port=self.port, timeout=2)
            except dns.exception.Timeout:
                return False
            return reply.rcode() == dns.rcode.NXDOMAIN
        answered_after_the_flood.asked = 0
        self.assertTrue(wait_for(answered_after_the_flood, timeout=3 * WAIT))
        answered, dropped = counts()
        self.assertGreater(dropped - dropped_before, 0)
        self.assertEqual(answered - answered_before + dropped - dropped_before,
                         flood + answered_after_the_flood.asked)

    def test_dig_reads_the_answers(self):
        if not ARGS.dig:
            self.skipTest("no dig")
        self.register("orders", "web-1", "10.0.0.1:8080")
        result = subprocess.run([ARGS.dig, "@127.0.0.1", "-p", str(self.port), "+short",
                                 "_orders._tcp.service.registryd.", "SRV"], capture_output=True, text=True,
                                timeout=30)
        self.assertEqual(result.stdout.strip(), "0 255 8080 web-1.orders.instance.registryd.", result.stderr)
        result = subprocess.run([ARGS.dig, "@127.0.0.1", "-p", str(self.port), "+tcp", "+short",
                                 "web-1.orders.instance.registryd.", "A"], capture_output=True, text=True, timeout=30)
        self.assertEqual(result.stdout.strip(), "10.0.0.1", result.stderr)


class DnsOptionsTest(DnsFace):
    """Another domain and a record TTL."""

    FLAGS = ("--dns-domain", "Disco.Example", "--dns-ttl", "5s")

    def test_the_domain_and_the_ttl(self):
        self.register("orders", "web-1", "10.0.0.1:8080")
        reply = self.ask("orders.service.disco.example.", "A")
        self.assertEqual([rdata.to_text() for rdata in reply.answer[0]], ["10.0.0.1"])
        self.assertEqual(reply.answer[0].ttl, 5)
        self.assertEqual(self.ask("orders.service.registryd.", "A").rcode(), dns.rcode.REFUSED)
        nodata = self.ask("orders.service.disco.example.", "MX")
        self.assertEqual(nodata.authority[0][0].minimum, 5)


class DnsPolicyTest(DnsFace):
    """Under --authz-policy DNS has no identity: it answers for the services
    anonymous callers may read, and REFUSED for the others."""

    CALL_METADATA = (("authorization", "Bearer tok-app"),)

    def flags(self):
        directory = tempfile.TemporaryDirectory(prefix="dns_policy_")
        self.addCleanup(directory.cleanup)
        policy, tokens = (os.path.join(directory.name, name) for name in ("policy", "tokens"))
        with open(policy, "w") as out:
            out.write('rule { identity: "app" service: "*" permission: [REGISTER, READ] }\n'
                      'rule { anonymous: true service: "public-*" permission: READ }\n')
        with open(tokens, "w") as out:
            out.write('token { sha256: "%s" identity: "app" }\n' % hashlib.sha256(b"tok-app").hexdigest())
        return ("--authz-policy", policy, "--auth-tokens", tokens)

    def test_only_what_anonymous_callers_may_read(self):
        self.register("public-web", "w1", "10.5.0.1:80")
        self.register("private-db", "d1", "10.5.0.2:5432")
        self.assertEqual(self.records("public-web.service.registryd.", "A"), ["10.5.0.1"])
        self.assertEqual(self.records("w1.public-web.instance.registryd.", "A"), ["10.5.0.1"])
        for name in ["private-db.service.registryd.", "d1.private-db.instance.registryd.",
                     "_private-db._tcp.service.registryd.", "nothere.service.registryd."]:
            with self.subTest(name=name):
                reply = self.ask(name, "A")
                self.assertEqual(reply.rcode(), dns.rcode.REFUSED)
                self.assertEqual(reply.answer, [])


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    stubs.add_arguments(parser)
    parser.add_argument("--dig")
    ARGS, rest = parser.parse_known_args()
    stubs.run_tests(rest)


if __name__ == "__main__":
    main()
