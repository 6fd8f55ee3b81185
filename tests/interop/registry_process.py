"""What the interop tests share: registryd as a child process on a loopback
port, and waiting for a condition without timing anything."""
import re
import signal
import subprocess
import threading
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
        """SIGTERM; registryd must exit with code 0 (under ASan, that includes
        LeakSanitizer finding no leak). Returns the rest of its stderr."""
        self.process.send_signal(signal.SIGTERM)
        # Read on a thread, so a hung shutdown still times out; not communicate(),
        # which would skip what readline() has buffered.
        tail = []
        reader = threading.Thread(target=lambda: tail.append(self.process.stderr.read()), daemon=True)
        reader.start()
        try:
            self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        reader.join(TIMEOUT)
        self.process.stderr.close()
        rest = tail[0] if tail else ""
        if self.process.returncode != 0:
            raise AssertionError("registryd exited with code %r after SIGTERM, want 0\n--- its stderr ---\n%s%s"
                                 % (self.process.returncode, self.startup, rest))
        return rest
