"""What the interop tests share: registryd as a child process on a loopback
port, and waiting for a condition without timing anything."""
import collections
import re
import signal
import socket
import subprocess
import threading
import time

TIMEOUT = 20  # seconds, for conditions that depend on real time


def free_ports(count):
    """`count` loopback TCP ports free at the time of the call, all different:
    each socket is held until every port is picked (one picked and let go at
    a time, two picks can be the same port)."""
    sockets = []
    try:
        for _ in range(count):
            sockets.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sockets[-1].bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port():
    return free_ports(1)[0]


def wait_for(condition, timeout=TIMEOUT):
    """Polls until condition() holds; returns its last value. Never asserts on
    how long anything took."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


class ServerProcess:
    """A registryd process, its stderr drained by a thread into a bounded
    buffer so the pipe never fills, whatever the log level. `startup` holds
    the log up to the "listening on" line, `address` what that line names."""

    LISTENING = re.compile(r"listening on (\S+)")
    HTTP = re.compile(r"HTTP face on (https?://\S+)")

    def __init__(self, argv, env=None):
        # Tests run side by side: the HTTP face takes a free port unless told.
        if not any(arg.startswith("--http-listen") for arg in argv):
            argv = [*argv, "--http-listen", "127.0.0.1:0"]
        if not any(arg.startswith("--dns-listen") for arg in argv):
            argv = [*argv, "--dns-listen", "127.0.0.1:0"]
        self.argv = argv
        self.startup = ""
        self.lines = collections.deque(maxlen=5000)  # after the listening line
        self.address = None
        self.http_url = None  # http://host:port of the HTTP face, once it logged it
        self._found = threading.Event()
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors="replace", env=env)
        self._reader = threading.Thread(target=self._drain, name="registryd-stderr", daemon=True)
        self._reader.start()

    def _drain(self):
        for line in self.proc.stderr:
            with self._lock:
                if self.address is None:
                    self.startup += line
                else:
                    self.lines.append(line)
            if self.http_url is None:
                match = self.HTTP.search(line)
                if match:
                    self.http_url = match.group(1)
            if self.address is None:
                match = self.LISTENING.search(line)
                if match:
                    self.address = match.group(1).rstrip(",;")
                    self._found.set()
        self._found.set()  # EOF: the process is gone; wake the waiter.

    @property
    def pid(self):
        return self.proc.pid

    def stderr_text(self):
        with self._lock:
            return self.startup + "".join(self.lines)

    def wait_listening(self, timeout=TIMEOUT):
        self._found.wait(timeout)
        if self.address is None:
            exited = self.proc.poll()
            self.kill()
            why = ("it exited with code %r first" % exited) if exited is not None else ("not within %s s" % timeout)
            raise RuntimeError("registryd never printed 'listening on HOST:PORT' (%s).\ncommand: %s\n"
                               "--- registryd stderr ---\n%s" % (why, " ".join(self.argv), self.stderr_text()))
        return self.address

    def stop(self, timeout=TIMEOUT):
        """SIGTERM: registryd must exit with code 0 by itself within `timeout`
        (under ASan, that includes LeakSanitizer finding no leak). Returns its
        stderr after the listening line."""
        if self.proc.poll() is not None:
            raise AssertionError("registryd exited on its own with code %r\n--- registryd stderr ---\n%s"
                                 % (self.proc.returncode, self.stderr_text()))
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("registryd did not exit within %s s of SIGTERM (killed it)\n"
                                 "--- registryd stderr ---\n%s" % (timeout, self.stderr_text()))
        self.kill()  # joins the stderr reader
        if code != 0:
            raise AssertionError("registryd exited with code %r after SIGTERM, want 0\n--- registryd stderr ---\n%s"
                                 % (code, self.stderr_text()))
        with self._lock:
            return "".join(self.lines)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        if not self._reader.is_alive():
            self.proc.stderr.close()


def Registry(registryd, listen="127.0.0.1:0", extra=(), data_dir=""):
    """registryd with the tests' short TTL bounds and tick, listening.
    data_dir: "" keeps registrations in memory only."""
    server = ServerProcess([registryd, "--listen", listen, "--threads", "2", "--min-ttl", "1s", "--tick", "20ms",
                            "--data-dir", data_dir, *extra])
    server.wait_listening()
    return server
