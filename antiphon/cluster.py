"""`antiphon cluster`: N `antiphon serve` replicas on free loopback ports behind HAProxy.

HAProxy routes each new WebSocket to the replica with the fewest connections among those whose
/readyz answers 200, from deploy/haproxy.cfg.template. When every replica is full, a backup in
this process answers the handshake with 1013 and the same reason a single server gives. SIGTERM
drains every replica (no new sessions, running ones finish within --grace), then stops HAProxy."""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from websockets.asyncio.server import serve

from antiphon.common import wire
from antiphon.common.command import antiphon_command

TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "haproxy.cfg.template"
CHECK_MS = 1000  # how soon a full, draining or dead replica leaves rotation


def add_arguments(p) -> None:
    p.add_argument("--replicas", type=int, default=2, help="antiphon serve processes (default 2)")
    p.add_argument("--host", default="127.0.0.1", help="the balancer's address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="the balancer's port (default 8765)")
    p.add_argument("--stats-port", type=int, default=0, help="HAProxy's stats page (default: a free port)")
    p.add_argument("--grace", type=float, default=5.0, help="seconds running sessions get to finish on SIGTERM")
    p.add_argument("--device", default="cpu", help="cpu, or cuda: one replica per GPU in turn")
    p.epilog = "Other options (--model, --max-sessions, --token, ...) go to every replica's `antiphon serve`."


def _die_with_parent() -> None:
    """Linux: a replica gets SIGTERM (and drains) if the cluster process dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render(host: str, port: int, stats_port: int, replicas: list[int], full_port: int, check_ms: int = CHECK_MS) -> str:
    """The HAProxy configuration for replicas on these loopback ports."""
    servers = "\n".join(f"    server r{i} 127.0.0.1:{p} check" for i, p in enumerate(replicas))
    routes = "\n".join(f"    use_backend metrics_r{i} if {{ path /replicas/{i}/metrics }}" for i in range(len(replicas)))
    metrics = "".join(f"backend metrics_r{i}\n    http-request set-path /metrics\n    server r{i} 127.0.0.1:{p}\n\n"
                      for i, p in enumerate(replicas))
    return string.Template(TEMPLATE.read_text()).substitute(
        host=host, port=port, stats_port=stats_port, servers=servers, metrics_routes=routes,
        metrics_backends=metrics, full_address=f"127.0.0.1:{full_port}", check_ms=check_ms)


class Replica:
    """One `antiphon serve` child; its output goes on to ours with a prefix."""

    def __init__(self, index: int, serve_args: list[str], env: dict):
        cmd = antiphon_command("serve", "--host", "127.0.0.1", "--port", "0", *serve_args)
        self.index = index
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**env, "PYTHONUNBUFFERED": "1"}, preexec_fn=_die_with_parent)
        self.port: int | None = None
        self._started = threading.Event()
        threading.Thread(target=self._forward, daemon=True).start()

    def _forward(self) -> None:
        for line in self.proc.stdout:
            m = re.search(r"serving http://127\.0\.0\.1:(\d+)/", line)
            if m and self.port is None:
                self.port = int(m.group(1))
                self._started.set()
            sys.stdout.write(f"[replica {self.index}] {line}")
            sys.stdout.flush()
        self._started.set()

    def wait_started(self, timeout: float = 120) -> int:
        self._started.wait(timeout)
        if self.port is None:
            raise RuntimeError(f"replica {self.index} did not start (exit code {self.proc.poll()})")
        return self.port


async def full_backup(port: int, replicas: int) -> None:
    """Where HAProxy sends a connection when no replica is ready: the WebSocket is refused with
    1013, HTTP gets 503, as one full server would answer."""
    from antiphon.server.http import response

    reason = f"server full (all {replicas} replicas); try again later"

    def http(connection, request):
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return response(503, b'{"ready": false, "free_slots": 0}', "application/json")
        return None

    async def refuse(ws):
        await ws.close(wire.CLOSE_TRY_LATER, reason)
    async with serve(refuse, "127.0.0.1", port, process_request=http):
        await asyncio.Future()


async def _listening(host: str, port: int, proc: subprocess.Popen, timeout: float = 30) -> bool:
    """Whether the balancer accepts connections (before it says it does)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline and proc.poll() is None:
        try:
            _, writer = await asyncio.open_connection(host, port)
            writer.close()
            return True
        except OSError:
            await asyncio.sleep(0.05)
    return False


def _gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - no CUDA build: no GPUs to pin
        return 0


async def run_cluster(args, serve_args: list[str], children: list) -> int:
    if args.replicas < 1:
        print("antiphon cluster: --replicas must be at least 1", file=sys.stderr)
        return 2
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        print("antiphon cluster: haproxy is not installed (Debian: apt-get install haproxy)", file=sys.stderr)
        return 2
    gpus = _gpu_count() if args.device.startswith("cuda") else 0
    replicas = []
    for i in range(args.replicas):
        env = dict(os.environ)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(i % gpus)  # one replica per GPU in turn
        replicas.append(Replica(i, [*serve_args, "--device", args.device, "--grace", str(args.grace)], env))
        children.append(replicas[-1].proc)
    try:
        ports = [await asyncio.to_thread(r.wait_started) for r in replicas]
    except RuntimeError as e:
        for r in replicas:
            r.proc.kill()
        print(f"antiphon cluster: {e}", file=sys.stderr)
        return 1
    full_port, stats_port = free_port(), args.stats_port or free_port()
    backup = asyncio.create_task(full_backup(full_port, args.replicas))
    config = Path(tempfile.mkdtemp(prefix="antiphon-cluster-")) / "haproxy.cfg"
    config.write_text(render(args.host, args.port, stats_port, ports, full_port))
    balancer = subprocess.Popen([haproxy, "-f", str(config), "-db"], preexec_fn=_die_with_parent)
    children.append(balancer)
    if not await _listening(args.host, args.port, balancer):
        print(f"antiphon cluster: haproxy did not start listening on {args.host}:{args.port}", file=sys.stderr)
        return 1
    print(f"antiphon cluster: balancing ws://{args.host}:{args.port}/ws over {len(ports)} replicas on ports "
          f"{', '.join(map(str, ports))}; stats http://{args.host}:{stats_port}/; metrics "
          f"http://{args.host}:{args.port}/replicas/N/metrics; config {config}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watch = asyncio.create_task(asyncio.to_thread(balancer.wait))
    await asyncio.wait([asyncio.create_task(stop.wait()), watch], return_when=asyncio.FIRST_COMPLETED)
    failed = balancer.poll() is not None
    print("antiphon cluster: draining the replicas", flush=True)
    for r in replicas:
        if r.proc.poll() is None:
            r.proc.send_signal(signal.SIGTERM)  # readiness 503 at once; sessions get --grace
    for r in replicas:
        try:
            await asyncio.to_thread(r.proc.wait, args.grace + 30)
        except subprocess.TimeoutExpired:
            r.proc.kill()
    if balancer.poll() is None:
        balancer.terminate()
        await asyncio.to_thread(balancer.wait)
    backup.cancel()
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="antiphon cluster", description="replicas of antiphon serve behind HAProxy")
    add_arguments(p)
    args, serve_args = p.parse_known_args(argv)
    children: list = []
    try:
        return asyncio.run(run_cluster(args, serve_args, children))
    finally:  # whatever ended the cluster, no replica or balancer outlives it
        for proc in children:
            if proc.poll() is None:
                proc.kill()
