"""A throwaway ``redis-server`` (or ``valkey-server``) on a free loopback port, for the benchmarks."""

from __future__ import annotations

import shutil
import socket
import subprocess


def start_redis() -> tuple[subprocess.Popen, int]:
    """Start an in-memory redis-server (no persistence) on a free port: ``(process, port)``.

    Raises:
        SystemExit: neither redis-server nor valkey-server is installed.
    """
    binary = shutil.which("redis-server") or shutil.which("valkey-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, port
