"""`antiphon cluster` with real HAProxy on loopback: replicas by readiness, the same refusal as one
server when all are full, replicas killed or drained, and SIGTERM draining the whole cluster."""
import asyncio
import json
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import numpy as np
import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from antiphon.common.command import antiphon_command

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed "
                                "(bash scripts/run.sh test installs it)")
CHECK_S = 1.0  # the health-check interval the cluster configures


class Cluster:
    def __init__(self, replicas=2, max_sessions=2, grace=3.0):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            antiphon_command("cluster", "--replicas", str(replicas), "--port", str(self.port),
             "--grace", str(grace), "--model", "random:tiny", "--max-sessions", str(max_sessions)),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        for line in self.proc.stdout:
            self.lines.append(line)
            m = re.search(r"over \d+ replicas on ports ([\d, ]+);", line)
            if m:
                self.replica_ports = [int(p) for p in m.group(1).split(", ")]
                break
        else:
            raise RuntimeError("cluster did not start: " + "".join(self.lines))
        self.url = f"ws://127.0.0.1:{self.port}/ws"
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()

    def replica_pid(self, i: int) -> int:
        port = str(self.replica_ports[i])
        for child in psutil.Process(self.proc.pid).children():
            for c in child.net_connections(kind="tcp"):
                if c.status == psutil.CONN_LISTEN and str(c.laddr.port) == port:
                    return child.pid
        raise LookupError(f"no replica listens on {port}")

    def sessions(self, i: int) -> int:
        """Read through the balancer: the replica's own /metrics."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/replicas/{i}/metrics", timeout=5).read().decode()
        return int(float(re.search(r"^antiphon_sessions (\S+)$", text, re.M).group(1)))

    def stop(self):
        """SIGTERM, as a user would; what is still running after it is killed (replicas included,
        which would otherwise outlive a killed cluster)."""
        try:
            descendants = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            descendants = []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for child in descendants:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass


@pytest.fixture
def cluster():
    made = []

    def make(**kwargs):
        made.append(Cluster(**kwargs))
        return made[-1]
    yield make
    for c in made:
        c.stop()


async def session(url):
    ws = await connect(url, open_timeout=20)
    hello = json.loads(await asyncio.wait_for(ws.recv(), 20))
    assert hello["type"] == "hello"
    return ws


async def audio_arrives(ws) -> bool:
    await ws.send(np.zeros(640 * 3, "<i2").tobytes())
    while True:
        if isinstance(await asyncio.wait_for(ws.recv(), 20), bytes):
            return True


async def test_sessions_spread_by_readiness_and_the_fifth_is_refused_like_one_server(cluster):
    c = cluster(max_sessions=2)
    sockets = [await session(c.url) for _ in range(4)]
    assert [c.sessions(0), c.sessions(1)] == [2, 2]
    assert all([await audio_arrives(ws) for ws in sockets])
    await asyncio.sleep(CHECK_S * 1.5)  # both replicas report full: out of rotation, the backup answers
    with pytest.raises(ConnectionClosed) as closed:
        ws = await connect(c.url, open_timeout=20)
        await asyncio.wait_for(ws.recv(), 20)
    assert closed.value.rcvd.code == 1013 and "server full" in closed.value.rcvd.reason
    with pytest.raises(urllib.error.HTTPError) as ready:
        urllib.request.urlopen(f"http://127.0.0.1:{c.port}/readyz", timeout=5)
    assert ready.value.code == 503
    await sockets[0].close()
    await asyncio.sleep(CHECK_S * 2.5)  # a slot freed: that replica is back in rotation
    fresh = await session(c.url)
    assert await audio_arrives(fresh)
    c.proc.send_signal(signal.SIGTERM)  # the cluster drains every replica and exits 0
    assert await asyncio.to_thread(c.proc.wait, 60) == 0


async def test_a_killed_replica_leaves_rotation_and_new_sessions_go_to_the_survivor(cluster):
    c = cluster(max_sessions=4)
    first, second = await session(c.url), await session(c.url)
    assert [c.sessions(0), c.sessions(1)] == [1, 1]
    psutil.Process(c.replica_pid(0)).kill()  # SIGKILL
    with pytest.raises(ConnectionClosed):  # whichever session was on it has ended
        for ws in (first, second):
            await audio_arrives(ws)
    await asyncio.sleep(CHECK_S * 1.5)
    new = [await session(c.url) for _ in range(3)]
    assert all([await audio_arrives(ws) for ws in new])
    assert c.sessions(1) >= 3


async def test_a_draining_replica_leaves_rotation_at_once_and_its_sessions_finish(cluster):
    c = cluster(max_sessions=4, grace=30)
    on_r0 = await session(c.url)
    assert c.sessions(0) == 1
    psutil.Process(c.replica_pid(0)).send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the replica's own readiness turns at once
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{c.replica_ports[0]}/readyz", timeout=5)
        except urllib.error.HTTPError as e:
            assert e.code == 503
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the draining replica still says it is ready")
    await asyncio.sleep(CHECK_S * 1.5)
    others = [await session(c.url) for _ in range(2)]
    assert c.sessions(1) == 2
    for _ in range(5):  # the session on the draining replica still gets its audio
        assert await audio_arrives(on_r0)
    assert all([await audio_arrives(ws) for ws in others])
