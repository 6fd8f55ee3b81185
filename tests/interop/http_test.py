#!/usr/bin/python3
"""registryd's HTTP face against the real binary: probes, the JSON views of
the registry (compared with the gRPC replies in protobuf's JSON mapping),
/metrics (counted against what the test did, and checked by Prometheus'
promtool), errors as JSON with the right status, and a cluster node's
readiness while etcd is not there yet.
Usage:
  /usr/bin/python3 tests/interop/http_test.py --registryd build/src/registryd --protos protos \\
      --protoc /usr/bin/protoc --grpc-python-plugin /usr/bin/grpc_python_plugin \\
      [--etcd /usr/bin/etcd] [--promtool /usr/bin/promtool] [-v] [-k NAME]
"""
import argparse
import json
import re
import signal
import socket
import subprocess
import tempfile
import threading
import unittest
import urllib.error
import urllib.parse
import urllib.request

import grpc
from google.protobuf import json_format

import stubs
from registry_process import ServerProcess, free_port, free_ports, wait_for

ARGS = None
pb = None
RPC_TIMEOUT = 10
WAIT = 20  # seconds: generous, for the sanitizer builds


def setUpModule():
    global pb
    pb = stubs.generate_for(ARGS, "http_test_")


def start(*flags):
    server = ServerProcess([ARGS.registryd, "--listen", "127.0.0.1:0", "--threads", "2", "--min-ttl", "1s",
                            "--tick", "20ms", "--data-dir", "", *flags])
    server.wait_listening()
    return server


def get(url, method="GET", body=None, headers=None):
    """(status, headers, body) of one request; error statuses too."""
    request = urllib.request.Request(url, method=method, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=RPC_TIMEOUT) as reply:
            return reply.status, reply.headers, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def raw(address, request_bytes):
    """What the server answers to bytes sent as they are: (status, body)."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=RPC_TIMEOUT) as sock:
        sock.sendall(request_bytes)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            length = re.search(rb"Content-Length: (\d+)", head)
            if length and len(rest) >= int(length.group(1)):
                break
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode()


def samples(text, name):
    """{frozenset(labels): value} of one metric in Prometheus' text format."""
    found = {}
    for line in text.splitlines():
        match = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not match or match.group(1) != name:
            continue
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match.group(3) or ""))
        found[labels] = float(match.group(4))
    return found


def value(text, name, **labels):
    return samples(text, name).get(frozenset(labels.items()), None)


def check_with_promtool(test, text):
    """promtool (when given) accepts the exposition, without a lint warning."""
    if not ARGS.promtool:
        return
    checked = subprocess.run([ARGS.promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                             timeout=60)
    test.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)
    test.assertEqual(checked.stdout + checked.stderr, "")


class Client:
    def __init__(self, address):
        self.channel = grpc.insecure_channel(address)
        self.native = pb.registry_pb2_grpc.RegistryStub(self.channel)
        self.seed = pb.registry_service_pb2_grpc.RegistryServiceStub(self.channel)

    def register(self, service, instance_id, address="10.1.0.1:80", ttl_ms=30000, metadata=None, overloaded=False):
        return self.native.Register(pb.registry_pb2.RegisterRequest(
            service=service, instance_id=instance_id, address=address, ttl_ms=ttl_ms, metadata=metadata or {},
            overloaded=overloaded), timeout=RPC_TIMEOUT)

    def close(self):
        self.channel.close()


class HttpFaceTest(unittest.TestCase):
    def setUp(self):
        self.server = start()
        self.url = self.server.http_url
        self.assertIsNotNone(self.url, self.server.stderr_text())
        self.client = Client(self.server.address)

    def tearDown(self):
        self.client.close()
        self.server.stop()

    def test_probes_answer_json(self):
        status, headers, body = get(self.url + "/healthz")
        self.assertEqual((status, json.loads(body)), (200, {"status": "ok"}))
        self.assertEqual(headers["Content-Type"], "application/json")
        status, _, body = get(self.url + "/readyz")
        self.assertEqual((status, json.loads(body)), (200, {"status": "serving"}))
        status, headers, body = get(self.url + "/healthz", method="HEAD")
        self.assertEqual((status, body), (200, ""))

    def test_services_are_the_grpc_replies_in_protobufs_json_mapping(self):
        for i in range(3):
            self.client.register("orders", "o%d" % i, "10.0.0.%d:80" % i, metadata={"zone": "eu-%d" % i})
        self.client.register("orders", "busy", "10.0.0.9:80", overloaded=True)
        self.client.register("users", "u0", "10.0.1.1:80")
        listed = self.client.native.ListServices(pb.registry_pb2.ListServicesRequest(), timeout=RPC_TIMEOUT)
        status, _, body = get(self.url + "/v1/services")
        self.assertEqual(status, 200)
        expected = json_format.MessageToDict(listed, including_default_value_fields=True)
        self.assertEqual(json.loads(body), expected)
        self.assertEqual(json.loads(body)["services"][0], {"name": "orders", "instances": 4})

        for exclude in (False, True):
            found = self.client.native.Discover(
                pb.registry_pb2.DiscoverRequest(service="orders", exclude_overloaded=exclude), timeout=RPC_TIMEOUT)
            status, _, body = get(self.url + "/v1/services/orders" + ("?exclude_overloaded=true" if exclude else ""))
            self.assertEqual(status, 200)
            reply = json.loads(body)
            wanted = json_format.MessageToDict(found, including_default_value_fields=True)
            by_id = lambda message: {i["instanceId"]: {k: v for k, v in i.items() if k != "ttlRemainingMs"}
                                     for i in message["instances"]}
            self.assertEqual(by_id(reply), by_id(wanted))
            self.assertEqual(reply["revision"], wanted["revision"])
            self.assertEqual(len(reply["instances"]), 3 if exclude else 4)
            for instance in reply["instances"]:
                self.assertTrue(0 < instance["ttlRemainingMs"] <= 30000)
        self.assertEqual(by_id(json.loads(get(self.url + "/v1/services/orders")[2]))["o1"],
                         {"service": "orders", "instanceId": "o1", "address": "10.0.0.1:80",
                          "metadata": {"zone": "eu-1"}, "overloaded": False})
        status, _, body = get(self.url + "/v1/services/nobody")
        self.assertEqual((status, json.loads(body)["instances"]), (200, []))

    def test_services_can_be_filtered_and_paged(self):
        for name in ["alpha", "beta", "betamax", "gamma", "zbeta"]:
            self.client.register(name, "i")
        pages, after = [], ""
        while True:
            query = urllib.parse.urlencode({"filter": "beta", "limit": 2, **({"after": after} if after else {})})
            status, headers, body = get(self.url + "/v1/services?" + query)
            self.assertEqual(status, 200)
            self.assertEqual(headers["X-Total-Count"], "3")
            names = [service["name"] for service in json.loads(body)["services"]]
            if not names:
                break
            pages.append(names)
            after = names[-1]
        self.assertEqual(pages, [["beta", "betamax"], ["zbeta"]])

    def test_bad_requests_get_a_json_error_with_the_status_and_change_nothing(self):
        lease = self.client.register("kept", "k").lease_id
        long_path = "/v1/services/" + "x" * 10000
        cases = [
            ("GET", "/nope", 404, "no such path: /nope"),
            ("GET", "/v1", 404, "no such path"),
            ("POST", "/metrics", 405, "method POST not allowed on /metrics"),
            ("DELETE", "/v1/services/kept", 405, "method DELETE not allowed"),
            ("PUT", "/readyz", 405, "only GET and HEAD"),
            ("GET", "/v1/services?bogus=1", 400, "unknown query parameter 'bogus'"),
            ("GET", "/v1/services?limit=0", 400, "limit: must be a whole number from 1 to 100000"),
            ("GET", "/v1/services?limit=12abc", 400, "limit: must be a whole number"),
            ("GET", "/v1/services?limit=999999999999999999999", 400, "limit:"),
            ("GET", "/v1/services/kept?exclude_overloaded=maybe", 400, "exclude_overloaded: must be true or false"),
            ("GET", "/v1/services/kept?exclude_overloaded=1&x=2", 400, "unknown query parameter 'x'"),
            ("GET", "/v1/services/" + "s" * 300, 400, "service:"),
            ("GET", "/v1/services/bad%00name", 400, "service:"),
            ("GET", "/v1/services/%ff%fe", 400, "service:"),
            ("GET", "/metrics?x=1", 400, "/metrics takes no query parameters"),
            ("GET", long_path, 414, "request URI too long"),
        ]
        for method, path, status, message in cases:
            with self.subTest(method=method, path=path[:60]):
                got, headers, body = get(self.url + path, method=method, body=b"" if method != "GET" else None)
                self.assertEqual(got, status, body)
                self.assertEqual(headers["Content-Type"], "application/json")
                error = json.loads(body)["error"]  # valid JSON, whatever the path held
                self.assertEqual(error["code"], status)
                self.assertIn(message, error["message"])
                if status == 405:
                    self.assertEqual(headers["Allow"], "GET, HEAD")
        address = self.url.split("://", 1)[1]
        for garbage in [b"NONSENSE\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                        b"POST /metrics HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n",
                        b"GET /%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                        b"GET /healthz HTTP/1.1\r\n" + b"X: " + b"y" * 20000 + b"\r\n\r\n"]:
            with self.subTest(raw=garbage[:30]):
                got, body = raw(address, garbage)
                self.assertGreaterEqual(got, 400)
                self.assertLess(got, 500)
                self.assertEqual(json.loads(body)["error"]["code"], got)
        # Nothing registered was touched, and gRPC still serves.
        self.assertEqual(self.client.native.Heartbeat(pb.registry_pb2.HeartbeatRequest(lease_id=lease),
                                                      timeout=RPC_TIMEOUT).ttl_ms, 30000)
        self.assertEqual(get(self.url + "/healthz")[0], 200)

    def test_metrics_count_what_clients_did_and_pass_promtool(self):
        leases = [self.client.register("web", "w%d" % i).lease_id for i in range(5)]
        self.client.register("web", "w0")  # again: an update
        self.client.register("short", "s", ttl_ms=1000)
        for lease in leases * 3:
            self.client.native.Heartbeat(pb.registry_pb2.HeartbeatRequest(lease_id=lease), timeout=RPC_TIMEOUT)
        with self.assertRaises(grpc.RpcError):
            self.client.native.Heartbeat(pb.registry_pb2.HeartbeatRequest(lease_id=12345), timeout=RPC_TIMEOUT)
        self.client.native.Deregister(pb.registry_pb2.DeregisterRequest(lease_id=leases[4]), timeout=RPC_TIMEOUT)
        self.client.seed.discovery(pb.registry_service_pb2.RecordRequest(
            serverId=7, serverIp="10.0.0.7", serverPort=7000, service="seedy"), timeout=RPC_TIMEOUT)
        self.client.seed.heartBeat(pb.registry_service_pb2.RenewRequest(serverId=7), timeout=RPC_TIMEOUT)
        # The short lease expires by itself.
        self.assertTrue(wait_for(lambda: value(get(self.url + "/metrics")[2], "registryd_expirations_total") == 1,
                                 WAIT))
        status, headers, text = get(self.url + "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        handled = lambda method, code="OK", service="registry.v1.Registry": value(
            text, "registryd_grpc_server_handled_total", grpc_service=service, grpc_method=method, grpc_code=code)
        self.assertEqual(handled("Register"), 7)
        self.assertEqual(handled("Heartbeat"), 15)
        self.assertEqual(handled("Heartbeat", "NOT_FOUND"), 1)
        self.assertEqual(handled("Deregister"), 1)
        self.assertEqual(handled("discovery", service="registry_service.RegistryService"), 1)
        self.assertEqual(value(text, "registryd_grpc_server_handling_seconds_count",
                               grpc_service="registry.v1.Registry", grpc_method="Heartbeat"), 16)
        self.assertEqual(value(text, "registryd_grpc_server_handling_seconds_bucket",
                               grpc_service="registry.v1.Registry", grpc_method="Heartbeat", le="+Inf"), 16)
        self.assertEqual(value(text, "registryd_heartbeats_total", api="native"), 16)
        self.assertEqual(value(text, "registryd_heartbeats_total", api="seed"), 1)
        self.assertEqual(value(text, "registryd_registrations_total"), 7)  # 5 web, short, the seed's
        self.assertEqual(value(text, "registryd_updates_total"), 1)
        self.assertEqual(value(text, "registryd_deregistrations_total"), 1)
        self.assertEqual(value(text, "registryd_instances"), 5)  # w0-w3 and the seed's
        self.assertEqual(value(text, "registryd_services"), 2)
        self.assertEqual(value(text, "registryd_ready"), 1)
        self.assertEqual(value(text, "registryd_build_info", **dict(next(iter(samples(
            text, "registryd_build_info"))))), 1)
        self.assertGreater(value(text, "process_resident_memory_bytes"), 1e6)
        self.assertGreater(value(text, "process_open_fds"), 3)
        self.assertIsNone(value(text, "registryd_journal_written_bytes_total"))  # no data dir
        self.assertIsNone(value(text, "registryd_cluster_nodes"))  # not a cluster node
        check_with_promtool(self, text)

    def test_journal_metrics_with_a_data_dir(self):
        with tempfile.TemporaryDirectory(prefix="http_test_data_") as data:
            server = ServerProcess([ARGS.registryd, "--listen", "127.0.0.1:0", "--threads", "2", "--data-dir", data])
            try:
                server.wait_listening()
                client = Client(server.address)
                client.register("kept", "k")
                client.close()
                metrics = lambda: get(server.http_url + "/metrics")[2]
                # The journal's thread writes and syncs the change within its interval.
                self.assertTrue(wait_for(lambda: (value(metrics(), "registryd_journal_written_bytes_total") or 0) > 0
                                         and (value(metrics(), "registryd_journal_fsync_seconds_count") or 0) > 0,
                                         WAIT))
                text = metrics()
                self.assertIsNotNone(value(text, "registryd_snapshots_total"))
                self.assertIsNotNone(value(text, "registryd_snapshot_last_size_bytes"))
                check_with_promtool(self, text)
            finally:
                server.stop()

    def test_watch_and_keepalive_streams_are_counted_while_open(self):
        lease = self.client.register("streamed", "s").lease_id
        watch = self.client.native.Watch(pb.registry_pb2.WatchRequest(service="streamed"))
        next(watch)  # the snapshot: the stream is open
        done = threading.Event()

        def requests():  # one renewal, then the stream stays open until the test is done
            yield pb.registry_pb2.KeepAliveRequest(lease_id=lease)
            done.wait(WAIT)

        keep_alive = self.client.native.KeepAlive(requests())
        next(keep_alive)
        metrics = lambda: get(self.url + "/metrics")[2]
        self.assertTrue(wait_for(lambda: value(metrics(), "registryd_streams_open", kind="watch") == 1 and
                                 value(metrics(), "registryd_streams_open", kind="keepalive") == 1, WAIT))
        self.assertEqual(value(metrics(), "registryd_heartbeats_total", api="keepalive"), 1)
        self.assertGreaterEqual(value(metrics(), "registryd_watch_events_sent_total"), 1)
        watch.cancel()
        keep_alive.cancel()
        done.set()
        self.assertTrue(wait_for(lambda: value(metrics(), "registryd_streams_open", kind="watch") == 0 and
                                 value(metrics(), "registryd_streams_open", kind="keepalive") == 0, WAIT))

    def test_idle_http_connections_do_not_stop_grpc(self):
        lease = self.client.register("idle", "i").lease_id
        host, port = self.url.split("://", 1)[1].rsplit(":", 1)
        idle = []
        try:
            for _ in range(300):  # far more than the HTTP pool's threads and queue
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                sock.connect_ex((host, int(port)))
                idle.append(sock)
            for _ in range(200):
                self.client.native.Heartbeat(pb.registry_pb2.HeartbeatRequest(lease_id=lease), timeout=RPC_TIMEOUT)
        finally:
            for sock in idle:
                sock.close()
        # Once they are gone, the HTTP face answers again.
        self.assertTrue(wait_for(lambda: get(self.url + "/healthz")[0] == 200, WAIT))


class PrometheusTest(unittest.TestCase):
    """The real Prometheus (Debian's) discovers the registered servers through
    /v1/prometheus/targets and scrapes registryd's own /metrics."""

    def setUp(self):
        if not ARGS.prometheus:
            self.skipTest("no --prometheus")
        self.server = start()
        self.addCleanup(self.server.stop)
        self.client = Client(self.server.address)
        self.addCleanup(self.client.close)
        self.directory = tempfile.TemporaryDirectory(prefix="prometheus_")
        self.addCleanup(self.directory.cleanup)

    def start_prometheus(self, config):
        path = self.directory.name + "/prometheus.yml"
        with open(path, "w") as file:
            file.write(config)
        port = free_port()
        log = open(self.directory.name + "/prometheus.log", "w")
        proc = subprocess.Popen([ARGS.prometheus, "--config.file", path, "--storage.tsdb.path",
                                 self.directory.name + "/data", "--web.listen-address", "127.0.0.1:%d" % port],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()

        def stop():
            proc.terminate()
            try:
                proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.addCleanup(stop)
        return "http://127.0.0.1:%d" % port

    def api(self, url, path):
        try:
            status, _, body = get(url + path)
        except OSError:
            return None  # not up yet
        return json.loads(body)["data"] if status == 200 else None

    def test_prometheus_discovers_the_registered_servers_and_scrapes_registryd(self):
        # Loopback addresses nothing listens on: Prometheus finds them down, but finds them.
        kept, leaving = ("127.0.0.1:%d" % port for port in free_ports(2))
        self.client.register("shop", "kept", kept, metadata={"zone": "eu-1", "app.kubernetes.io/name": "shop"})
        leaving_lease = self.client.register("shop", "leaving", leaving, ttl_ms=2000, overloaded=True).lease_id
        self.client.register("other", "x", "127.0.0.1:%d" % free_port())
        sd = self.server.http_url + "/v1/prometheus/targets?service=shop"
        status, headers, body = get(sd)
        self.assertEqual((status, headers["Content-Type"]), (200, "application/json"))
        self.assertEqual(sorted(group["targets"][0] for group in json.loads(body)), sorted([kept, leaving]))
        self.assertEqual(get(self.server.http_url + "/v1/prometheus/targets?service=bad%00")[0], 400)
        registryd = self.server.http_url.split("://", 1)[1]
        prometheus = self.start_prometheus(f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: registryd
    static_configs:
      - targets: ["{registryd}"]
  - job_name: shop
    http_sd_configs:
      - url: "{sd}"
        refresh_interval: 1s
""")
        stop_beating = threading.Event()

        def beat():  # keeps "leaving" alive until Prometheus has seen it
            while not stop_beating.wait(0.3):
                try:
                    self.client.native.Heartbeat(pb.registry_pb2.HeartbeatRequest(lease_id=leaving_lease, overloaded=True),
                                                 timeout=RPC_TIMEOUT)
                except grpc.RpcError:
                    pass
        beater = threading.Thread(target=beat, daemon=True)
        beater.start()
        self.addCleanup(stop_beating.set)

        def shop_targets():
            data = self.api(prometheus, "/api/v1/targets")
            if data is None:
                return None
            return {t["discoveredLabels"]["__address__"]: t["discoveredLabels"]
                    for t in data["activeTargets"] if t["labels"].get("job") == "shop"}
        self.assertTrue(wait_for(lambda: set(shop_targets() or {}) == {kept, leaving}, WAIT + 30),
                        shop_targets())
        labels = shop_targets()
        self.assertEqual(labels[kept]["__meta_registryd_service"], "shop")
        self.assertEqual(labels[kept]["__meta_registryd_instance_id"], "kept")
        self.assertEqual(labels[kept]["__meta_registryd_overloaded"], "false")
        self.assertEqual(labels[kept]["__meta_registryd_metadata_zone"], "eu-1")
        self.assertEqual(labels[kept]["__meta_registryd_metadata_app_kubernetes_io_name"], "shop")
        self.assertEqual(labels[leaving]["__meta_registryd_overloaded"], "true")
        # Its server stops heartbeating: it expires, and Prometheus drops it.
        stop_beating.set()
        beater.join()
        self.assertTrue(wait_for(lambda: set(shop_targets() or {}) == {kept}, WAIT + 10), shop_targets())
        # And registryd's own metrics are scraped: up is 1.
        up = lambda: self.api(prometheus, "/api/v1/query?query=" + urllib.parse.quote('up{job="registryd"}'))
        self.assertTrue(wait_for(lambda: bool(up() and up()["result"] and up()["result"][0]["value"][1] == "1"),
                                 WAIT + 10), up())
        instances = lambda: self.api(prometheus, "/api/v1/query?query=registryd_instances")
        self.assertTrue(wait_for(lambda: bool(instances() and instances()["result"] and
                                              instances()["result"][0]["value"][1] == "2"), WAIT + 10), instances())


class CommandLineTest(unittest.TestCase):
    def test_http_off_with_an_empty_address(self):
        server = start("--http-listen", "")
        try:
            self.assertIsNone(server.http_url)
            self.assertNotIn("HTTP face", server.stderr_text())
            client = Client(server.address)
            self.assertTrue(client.register("x", "y").lease_id)
            client.close()
        finally:
            server.stop()

    def test_a_bad_or_busy_http_address_is_a_clean_error(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            for address, message in [("nonsense", "'nonsense' is not host:port"),
                                     ("127.0.0.1:99999", "is not host:port"),
                                     ("127.0.0.1:%d" % port, "--http-listen: cannot listen on 127.0.0.1:%d" % port)]:
                with self.subTest(address=address):
                    result = subprocess.run([ARGS.registryd, "--listen", "127.0.0.1:0", "--data-dir", "",
                                             "--http-listen", address], capture_output=True, text=True, timeout=30)
                    self.assertEqual(result.returncode, 1)
                    self.assertIn(message, result.stderr)


class ClusterNodeTest(unittest.TestCase):
    """A cluster node whose etcd is not up yet: alive but not ready, until it joins."""

    def setUp(self):
        if not ARGS.etcd:
            self.skipTest("no --etcd")
        from etcd_cluster import EtcdCluster
        self.etcd = EtcdCluster(ARGS.etcd, members=1)

    def tearDown(self):
        self.etcd.close()

    def test_ready_only_once_joined_and_cluster_metrics(self):
        self.etcd.kill(0)
        node = ServerProcess([ARGS.registryd, "--listen", "127.0.0.1:0", "--threads", "2", "--etcd-endpoints",
                              self.etcd.client_urls[0], "--etcd-prefix", "/http-test/"])
        try:
            self.assertTrue(wait_for(lambda: node.http_url is not None, WAIT), node.stderr_text())
            url = node.http_url
            self.assertEqual(get(url + "/healthz")[0], 200)
            status, _, body = get(url + "/readyz")
            self.assertEqual(status, 503)
            self.assertIn("starting", json.loads(body)["error"]["message"])
            self.assertEqual(get(url + "/v1/services")[0], 503)
            self.assertEqual(value(get(url + "/metrics")[2], "registryd_ready"), 0)
            self.etcd.start(0)
            node.wait_listening(WAIT + 30)
            self.assertTrue(wait_for(lambda: get(url + "/readyz")[0] == 200, WAIT))
            client = Client(node.address)
            client.register("clustered", "c1")
            client.close()
            text = get(url + "/metrics")[2]
            self.assertEqual(value(text, "registryd_cluster_nodes"), 1)
            self.assertEqual(value(text, "registryd_cluster_leases", holder="self"), 1)
            self.assertEqual(value(text, "registryd_cluster_leases", holder="others"), 0)
            self.assertGreaterEqual(value(text, "registryd_etcd_txn_seconds_count"), 1)
            self.assertGreaterEqual(value(text, "registryd_etcd_txn_writes_sum"), 1)
            self.assertIsNotNone(value(text, "registryd_cluster_watch_lag_seconds"))
            check_with_promtool(self, text)
        finally:
            node.stop()


class StoppingTest(unittest.TestCase):
    """/readyz turns 503 as soon as the node starts stopping, while calls in
    flight still get their --shutdown-timeout: a cluster node's Register waits
    for an etcd that was paused (SIGSTOP) when SIGTERM comes."""

    def setUp(self):
        if not ARGS.etcd:
            self.skipTest("no --etcd")
        from etcd_cluster import EtcdCluster
        self.etcd = EtcdCluster(ARGS.etcd, members=1)
        self.addCleanup(self.etcd.close)

    def test_not_ready_while_stopping(self):
        node = ServerProcess([ARGS.registryd, "--listen", "127.0.0.1:0", "--threads", "2", "--etcd-endpoints",
                              self.etcd.client_urls[0], "--etcd-prefix", "/http-stop-test/",
                              "--shutdown-timeout", "20s"])
        self.addCleanup(node.kill)
        node.wait_listening(WAIT + 30)
        url = node.http_url
        self.assertTrue(wait_for(lambda: get(url + "/readyz")[0] == 200, WAIT))
        client = Client(node.address)
        self.addCleanup(client.close)
        client.native.ListServices(pb.registry_pb2.ListServicesRequest(), timeout=RPC_TIMEOUT)  # connected
        etcd = self.etcd.procs[0]
        etcd.send_signal(signal.SIGSTOP)
        self.addCleanup(lambda: etcd.poll() is None and etcd.send_signal(signal.SIGCONT))
        in_flight = client.native.Register.future(pb.registry_pb2.RegisterRequest(
            service="s", instance_id="i", address="127.0.0.1:1"), timeout=60)
        node.proc.send_signal(signal.SIGTERM)
        self.assertTrue(wait_for(lambda: "received: shutting down" in node.stderr_text(), WAIT))
        status, _, body = get(url + "/readyz")
        self.assertEqual((status, json.loads(body)["error"]["message"]), (503, "stopping"))
        self.assertEqual(get(url + "/healthz")[0], 200)  # alive: still draining
        self.assertFalse(in_flight.done())
        etcd.send_signal(signal.SIGCONT)  # the call completes, the node stops
        in_flight.exception(timeout=WAIT)
        self.assertTrue(wait_for(lambda: node.proc.poll() is not None, WAIT + 20))


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    stubs.add_arguments(parser)
    parser.add_argument("--etcd", help="etcd binary, for the cluster node's readiness test")
    parser.add_argument("--promtool", help="Prometheus' promtool, to check /metrics")
    parser.add_argument("--prometheus", help="Prometheus, to discover registered servers and scrape registryd")
    ARGS, rest = parser.parse_known_args()
    stubs.run_tests(rest)


if __name__ == "__main__":
    main()
