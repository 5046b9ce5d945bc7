"""Start `antiphon serve` as a real process on a free loopback port (the benchmark and the tests)."""
import os
import re
import subprocess
import time

from antiphon.common.command import antiphon_command


class ServerProcess:
    def __init__(self, *args, timeout=60):
        cmd = antiphon_command("serve", "--port", "0", *args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        self.lines = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the server exited: " + "".join(self.lines))
            self.lines.append(line)
            m = re.search(r"serving http://127\.0\.0\.1:(\d+)/", line)
            if m:
                self.port = int(m.group(1))
                self.url = f"ws://127.0.0.1:{self.port}/ws"
                self.http = f"http://127.0.0.1:{self.port}"
                return
        raise RuntimeError("server did not start: " + "".join(self.lines))

    def rest_of_output(self) -> str:
        return "".join(self.lines) + self.proc.stdout.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
