"""What the cluster tests run: a real etcd cluster (Debian's etcd binary) on
free loopback ports with temporary data dirs, registryd nodes over it, and a
TCP proxy of the test's own to cut a node off from etcd or stall its watch
(no privileges needed). Everything started here is stopped by close()."""
import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request

from registry_process import ServerProcess, free_ports, wait_for

STARTUP_TIMEOUT = 30  # seconds


class EtcdTls:
    """PEM files for etcd's client port: its CA, its own certificate and key,
    and a client's, which it requires."""

    def __init__(self, ca, cert, key, client_cert, client_key):
        self.ca, self.cert, self.key = ca, cert, key
        self.client_cert, self.client_key = client_cert, client_key


class EtcdCluster:
    """`members` etcd members forming one cluster. Member i serves clients on
    client_urls[i]; kill(i) / start(i) take it down and bring it back with its
    data; leader() says which one leads."""

    def __init__(self, etcd, members=3, tls=None):
        """`tls`: EtcdTls, to serve clients over mutual TLS (https://)."""
        self.etcd = etcd
        self.tls = tls
        self.root = tempfile.mkdtemp(prefix="etcd_cluster_")
        self.names = ["m%d" % i for i in range(members)]
        ports = free_ports(2 * members)
        self.client_ports, self.peer_ports = ports[:members], ports[members:]
        scheme = "https" if tls else "http"
        self.client_urls = ["%s://127.0.0.1:%d" % (scheme, port) for port in self.client_ports]
        self.initial_cluster = ",".join("%s=http://127.0.0.1:%d" % (name, port)
                                        for name, port in zip(self.names, self.peer_ports))
        self.procs = [None] * members
        self.logs = [os.path.join(self.root, name + ".log") for name in self.names]
        try:
            for i in range(members):
                self.start(i, state="new")
            for i in range(members):
                self.wait_healthy(i)
        except BaseException:
            self.close()  # nobody else holds the members that did start
            raise

    def start(self, i, state="existing"):
        argv = [self.etcd, "--name", self.names[i], "--data-dir", os.path.join(self.root, self.names[i]),
                "--listen-client-urls", self.client_urls[i], "--advertise-client-urls", self.client_urls[i],
                "--listen-peer-urls", "http://127.0.0.1:%d" % self.peer_ports[i],
                "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % self.peer_ports[i],
                "--initial-cluster", self.initial_cluster, "--initial-cluster-state", state,
                "--initial-cluster-token", os.path.basename(self.root),
                # Quick elections: the tests wait for them.
                "--heartbeat-interval", "50", "--election-timeout", "500"]
        if self.tls:
            argv += ["--cert-file", self.tls.cert, "--key-file", self.tls.key, "--client-cert-auth",
                     "--trusted-ca-file", self.tls.ca]
        log = open(self.logs[i], "a")
        self.procs[i] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()

    def _context(self):
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.tls.ca)
        context.load_cert_chain(self.tls.client_cert, self.tls.client_key)
        return context

    def _get(self, i, path, timeout=1.0):
        with urllib.request.urlopen(self.client_urls[i] + path, timeout=timeout, context=self._context()) as reply:
            return reply.read().decode()

    def healthy(self, i):
        try:
            return json.loads(self._get(i, "/health")).get("health") == "true"
        except (OSError, ValueError):
            return False

    def wait_healthy(self, i, timeout=STARTUP_TIMEOUT):
        if not wait_for(lambda: self.healthy(i), timeout):
            raise RuntimeError("etcd member %s is not healthy within %s s:\n%s" % (self.names[i], timeout,
                                                                                 self.log_tail(i)))

    def _post(self, i, path, body):
        request = urllib.request.Request(self.client_urls[i] + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10, context=self._context()) as reply:
            return json.loads(reply.read().decode())

    def revision(self):
        """etcd's current revision (through its JSON gateway)."""
        reply = self._post(0, "/v3/kv/range", {"key": base64.b64encode(b"revision-probe").decode()})
        return int(reply["header"]["revision"])

    def compact(self, revision):
        """Compacts etcd's history up to `revision`: watches from before it fail."""
        self._post(0, "/v3/kv/compaction", {"revision": str(revision), "physical": True})

    def leader(self):
        """The index of the member that leads, or None (no quorum, or in an election)."""
        for i, proc in enumerate(self.procs):
            if proc is None or proc.poll() is not None:
                continue
            try:
                for line in self._get(i, "/metrics").splitlines():
                    if line.startswith("etcd_server_is_leader ") and line.split()[1] == "1":
                        return i
            except OSError:
                continue
        return None

    def kill(self, i):
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        self.procs[i] = None

    def log_tail(self, i, lines=30):
        try:
            with open(self.logs[i]) as log:
                return "".join(log.readlines()[-lines:])
        except OSError:
            return ""

    def close(self):
        for i in range(len(self.procs)):
            self.kill(i)
        shutil.rmtree(self.root, ignore_errors=True)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target port. pause() holds every byte in
    both directions (connections stay open: a stalled peer); cut() closes every
    connection and refuses new ones (a network cut); delay(seconds) holds each
    chunk that long before passing it on (a slow link); restore() ends any."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self._flowing = threading.Event()
        self._flowing.set()
        self._cut = False
        self._closed = False
        self._delay = 0.0
        self._lock = threading.Lock()
        self._sockets = []
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                if self._cut or self._closed:
                    client.close()
                    continue
                try:
                    upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
                    upstream.settimeout(None)
                except OSError:
                    client.close()
                    continue
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), name="proxy-pump", daemon=True).start()

    def _pump(self, source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                while not self._flowing.wait(0.1):
                    if self._cut or self._closed:
                        return
                if self._delay:
                    time.sleep(self._delay)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def pause(self):
        self._flowing.clear()

    def cut(self):
        with self._lock:
            self._cut = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass

    def delay(self, seconds):
        self._delay = seconds

    def restore(self):
        with self._lock:
            self._cut = False
        self._delay = 0.0
        self._flowing.set()

    def close(self):
        self._closed = True
        self.cut()
        self._flowing.set()
        self.listener.close()


class Node:
    """A registryd node of a cluster on a loopback port, kept across
    restarts, so that it comes back under the same name. Its first start
    takes a free port itself (port 0): a port picked here and bound later
    could be taken meanwhile by another process's port-0 bind."""

    def __init__(self, registryd, etcd_urls, prefix, node_ttl="2s", extra=(), port=None, wait=True):
        self.registryd = registryd
        self.port = port  # None until the first start listens
        self.flags = ["--threads", "2", "--min-ttl", "1s", "--tick", "20ms",
                      "--etcd-endpoints", ",".join(etcd_urls), "--etcd-prefix", prefix, "--node-ttl", node_ttl,
                      "--max-staleness", "1500ms", *extra]
        self.server = None
        self.start(wait)

    @property
    def address(self):
        return "127.0.0.1:%s" % (self.port if self.port is not None else "?")

    def start(self, wait=True):
        """Starts the process; with `wait`, returns once it serves (it joined the cluster)."""
        listen = "127.0.0.1:%d" % (self.port or 0)
        self.server = ServerProcess([self.registryd, "--listen", listen, *self.flags])
        if wait:
            self.wait_listening()

    def wait_listening(self, timeout=STARTUP_TIMEOUT):
        self.port = int(self.server.wait_listening(timeout).rsplit(":", 1)[1])

    def kill(self):
        self.server.kill()

    def stop(self):
        return self.server.stop()

    def alive(self):
        return self.server.proc.poll() is None

    def log(self):
        return self.server.stderr_text()
