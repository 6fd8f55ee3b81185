"""What the interop tests share: registryd as a child process on a loopback
port, and waiting for a condition without timing anything."""
import re
import signal
import subprocess
import time

TIMEOUT = 20  # seconds, for conditions that depend on real time


def wait_for(condition, timeout=TIMEOUT):
    """Polls until condition() holds; returns its last value. Never asserts on
    how long anything took."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


class Registry:
    """registryd on a loopback port (a given one, to restart on the same), up
    to its start-up line; `startup` holds the log up to it, and the rest of
    stderr is the caller's to read."""

    def __init__(self, registryd, listen="127.0.0.1:0", extra=(), data_dir=""):
        """data_dir: "" keeps registrations in memory only."""
        self.process = subprocess.Popen(
            [registryd, "--listen", listen, "--threads", "2", "--min-ttl", "1s", "--tick", "20ms",
             "--data-dir", data_dir, *extra],
            stderr=subprocess.PIPE, text=True)
        self.startup = ""
        match = None
        for _ in range(50):
            line = self.process.stderr.readline()
            self.startup += line
            match = re.search(r"listening on (\S+)", line)
            if match or not line:
                break
        if not match:
            self.process.kill()
            raise RuntimeError("registryd did not start: " + self.startup)
        self.address = match.group(1)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=TIMEOUT)
        self.process.stderr.close()
