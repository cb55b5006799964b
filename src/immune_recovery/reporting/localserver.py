"""Helper processes of one ``immune-recovery report`` run, each listening on a Unix socket.

A :class:`LocalServer` is a Python module run as a process of its own (``python -m module
ADDRESS ARGS``) for the length of the run: the kernel server
(:mod:`~immune_recovery.reporting.warmkernel`) and the print server
(:mod:`~immune_recovery.reporting.printserver`). Its socket lies in a private temporary
folder (mode 0700: no other user can connect) and appears only once the server listens
(:func:`listen`), so a client that finds no socket does the work itself. Requests and replies
are single JSON lines (:func:`send`, :func:`receive`). A server ends on SIGTERM and when the
run that started it is gone, even one killed outright (:func:`end_with_parent`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

#: How much lower a server's CPU priority is (``nice``; inherited by the kernels and
#: browser it starts): while the export is read, on which every report waits, the servers'
#: start-up takes only the CPU the reading leaves.
SERVER_NICENESS = 5
#: How long the run waits for a server to import and listen (s); past it, clients work alone.
READY_TIMEOUT_SECONDS = 120
#: How often a server looks whether the run that started it is still there (s).
PARENT_POLL_SECONDS = 0.5


class LocalServer:
    """``python -m module ADDRESS *args`` with ``env`` added to this process's environment:
    started (in the background) by :meth:`start`, stopped by :meth:`stop` or at the end of
    a ``with`` block."""

    def __init__(self, module: str, args: list[str], env: dict[str, str] | None = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="ir-server-"))  # private: mode 0700
        self.address = str(self.folder / "socket")
        self.module, self.args, self.env = module, args, env or {}
        self.process: subprocess.Popen | None = None

    def start(self) -> LocalServer:
        nice = shutil.which("nice")
        self.process = subprocess.Popen(
            [*([nice, "-n", str(SERVER_NICENESS)] if nice else []), sys.executable, "-m",
             self.module, self.address, *self.args],
            env={**os.environ, **self.env}, stdin=subprocess.DEVNULL)
        return self

    def ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> bool:
        """Wait until the server listens (``False``: it failed, or is not ready in time)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if Path(self.address).exists():
                return True
            if self.process is None or self.process.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)  # the server may have removed it

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *_) -> None:
        self.stop()


def listen(address: str) -> socket.socket:
    """A socket listening on ``address``, which exists only once it listens."""
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(address + ".partial")
    listener.listen()
    os.rename(address + ".partial", address)
    return listener


def end_with_parent(address: str) -> None:
    """In a server, before it serves: SIGTERM ends it (as ``SystemExit``, so that its
    ``finally`` blocks run: its kernels are killed, its browser closed), and so does the end
    of the run that started it (its parent), however that ends: a thread looks every
    :data:`PARENT_POLL_SECONDS` and, once the parent is gone, removes the socket's folder and
    sends the server's main thread SIGTERM (to that thread, so that a wait in ``accept`` or
    ``select`` is interrupted)."""
    parent = os.getppid()
    signal.signal(signal.SIGTERM, _exit)
    main = threading.main_thread().ident

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        shutil.rmtree(Path(address).parent, ignore_errors=True)
        signal.pthread_kill(main, signal.SIGTERM)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def _exit(*_) -> None:
    raise SystemExit(0)


def send(connection: socket.socket, message: dict) -> None:
    connection.sendall((json.dumps(message) + "\n").encode())


def receive(connection: socket.socket) -> dict:
    """The next JSON line from ``connection`` (``OSError`` if it closes first)."""
    line = b""
    while not line.endswith(b"\n"):
        chunk = connection.recv(1)
        if not chunk:
            raise OSError("the server closed the connection")
        line += chunk
    return json.loads(line)


def connect(address: str, timeout: float | None) -> socket.socket:
    connection = socket.socket(socket.AF_UNIX)
    connection.settimeout(timeout)
    try:
        connection.connect(address)
    except OSError:
        connection.close()
        raise
    return connection
