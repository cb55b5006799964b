"""Kernels forked from a warm process: a report's kernel starts with its imports done.

Every report of ``immune-recovery report`` runs in a Jupyter kernel of its own. Started the
usual way (``python -m ipykernel_launcher``), each kernel pays Python's start, ipykernel's
imports and then the notebook's own imports (pandas, SciPy, statsmodels, lifelines, the
package): about 3 s a report, 20 s of a seven-report suite. The **kernel server** pays them
once: a process (:class:`KernelServer`, a :class:`~.localserver.LocalServer`) started at the
beginning of the run imports, while the export is being read, ipykernel, the modules every
notebook of the site imports (:func:`common_imports`: the package, with pandas, SciPy and
numba) and the model libraries of the analyses (:data:`ANALYSIS_LIBRARIES`), then forks one
kernel per request. The forked kernel is the same ipykernel, on the connection file,
environment and working folder the report builder gives it; only the imports are done. The server is started with the builder's
deterministic environment (``PYTHONHASHSEED`` cannot change after a process starts), so a
forked kernel computes exactly what a started one computes.

The builder asks for a kernel through :class:`WarmKernelManager` (nbclient's
``kernel_manager_class``), whose provisioner forks instead of starting a process; without a
server, or if the server does not answer, the kernel is started the usual way. The server
reaps its kernels and hands each one's exit status and peak memory back to the builder
(:func:`kernel_peaks_kib`), which reports it as its own process's. A kernel whose builder is
gone is killed; stopping the server kills its kernels.

Protocol (one connection a kernel): the builder sends one JSON line ``{"argv", "env", "cwd"}``; the server answers ``{"pid"}`` and, when
the kernel has ended, ``{"exit", "maxrss_kib"}``.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import time
import traceback
import uuid
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from jupyter_client.provisioning import LocalProvisioner
from numba.core.dispatcher import Dispatcher

from .localserver import LocalServer, connect, end_with_parent, listen, receive, send

#: The environment variable naming the server's socket, for the builders it serves.
ADDRESS_ENV = "IMMUNE_RECOVERY_KERNEL_SERVER"
#: How long a builder waits for the server to fork a kernel (s).
REQUEST_TIMEOUT_SECONDS = 30
#: The model libraries every analysis report imports (through the package: the frequency,
#: risk-factor, outcome, trajectory and in-context notebooks; ``tests/test_warmkernel.py``
#: checks it), preloaded with the common imports: of the site's kernels, only the two
#: lightest (data quality, overview) hold them without using them.
ANALYSIS_LIBRARIES = ("lifelines", "patsy", "joblib", "statsmodels.api",
                      "statsmodels.formula.api")
#: Peak resident memory (KiB) of each warm kernel of this process that has ended.
_PEAKS_KIB: list[int] = []


def notebook_imports(notebook: Path) -> list[str]:
    """The modules the code cells of ``notebook`` import (``import a.b``, ``from a.b import
    c``: ``a.b``), in first-seen order."""
    found: dict[str, None] = {}
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # IPython magics: not Python
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(dict.fromkeys(alias.name for alias in node.names))
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found[node.module] = None
    return list(found)


def common_imports(notebooks: list[Path]) -> list[str]:
    """The modules every one of ``notebooks`` imports (:func:`notebook_imports`), in the
    first notebook's order: what the server preloads, so that a forked kernel holds no
    module a started one would not (its memory is a started kernel's)."""
    each = [notebook_imports(path) for path in notebooks]
    return [name for name in each[0] if all(name in other for other in each[1:])]


def kernel_peaks_kib() -> list[int]:
    """Peak resident memory (KiB) of the warm kernels this process used, once ended."""
    return list(_PEAKS_KIB)


# --- the server -----------------------------------------------------------------------------


def preload(modules: list[str]) -> None:
    """Import ipykernel's kernel application and ``modules`` (one that fails to import is left
    to the kernel, which reports it where the notebook imports it), then the package's
    compiled functions (:func:`load_compiled`)."""
    importlib.import_module("ipykernel.kernelapp")
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the notebook's own import will say why
            continue
    load_compiled()


def load_compiled(package: str = "immune_recovery") -> int:
    """Load from numba's on-disk cache every compiled version of the jitted functions of
    ``package``'s imported modules, as their first call in a process would: a forked kernel
    then calls them at once, without starting numba's code generator (about half a second a
    process). Only versions in the cache are loaded (nothing is compiled); the cache's index
    is read through numba's internals, and any failure leaves the loading to the first call,
    as in a started kernel. Returns how many versions were loaded."""
    loaded = 0
    for name, module in list(sys.modules.items()):
        if module is None or not (name == package or name.startswith(f"{package}.")):
            continue
        for value in list(vars(module).values()):
            if not isinstance(value, Dispatcher) or value.__module__ != name:
                continue
            try:
                magic = value.targetctx.codegen().magic_tuple()
                for signature, target, *_ in value._cache._cache_file._load_index():
                    if target == magic and value._cache.load_overload(
                            signature, value.targetctx) is not None:
                        value.compile(signature)  # from the cache just loaded
                        loaded += 1
            except Exception:  # noqa: BLE001 - the first call loads or compiles it
                continue
    return loaded


def serve(address: str, modules: list[str]) -> None:
    """Preload ``modules``, listen on ``address`` and fork a kernel for each request, until
    SIGTERM or the end of the run (:func:`~.localserver.end_with_parent`), which kills the
    kernels still running."""
    end_with_parent(address)
    os.environ["JPY_PARENT_PID"] = str(os.getpid())  # a forked kernel's parent: this server
    preload(modules)
    listener = listen(address)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    kernels: dict[int, socket.socket] = {}
    try:
        while True:
            for key, _ in selector.select():
                if key.fileobj is listener:
                    _accept(listener, selector, kernels, [listener.fileno(), wake_r, wake_w])
                elif key.fileobj == wake_r:
                    _drain(wake_r)
                    _reap(selector, kernels)
                else:  # the builder closed its connection: its kernel goes too
                    _drop(key.fileobj, selector, kernels)
    finally:
        for pid in kernels:
            _kill(pid)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _accept(listener: socket.socket, selector: selectors.BaseSelector,
            kernels: dict[int, socket.socket], server_fds: list[int]) -> None:
    connection, _ = listener.accept()
    connection.settimeout(REQUEST_TIMEOUT_SECONDS)
    try:
        request = receive(connection)
    except (OSError, ValueError):
        connection.close()
        return
    pid = os.fork()
    if pid == 0:  # the kernel
        _run_kernel(request, server_fds + [selector.fileno(), connection.fileno()]
                    + [c.fileno() for c in kernels.values()])
    kernels[pid] = connection
    send(connection, {"pid": pid})
    selector.register(connection, selectors.EVENT_READ)


def _run_kernel(request: dict, close: list[int]) -> None:
    """In the forked child: become the kernel the request describes; never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        for fd in close:
            os.close(fd)
        os.setsid()  # its own process group, as a started kernel has
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()
        sys.argv = ["ipykernel_launcher", *request["argv"]]
        # imported already: the server preloaded it
        importlib.import_module("ipykernel.kernelapp").launch_new_instance()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:  # noqa: BLE001 - the child must end here, whatever happened
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)


def _reap(selector: selectors.BaseSelector, kernels: dict[int, socket.socket]) -> None:
    while kernels:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return
        connection = kernels.pop(pid, None)
        if connection is None:
            continue
        selector.unregister(connection)
        message = {"exit": os.waitstatus_to_exitcode(status), "maxrss_kib": usage.ru_maxrss}
        try:
            send(connection, message)
        except OSError:
            pass
        connection.close()


def _drop(connection, selector: selectors.BaseSelector,
          kernels: dict[int, socket.socket]) -> None:
    selector.unregister(connection)
    for pid, held in list(kernels.items()):
        if held is connection:
            _kill(pid)
            kernels.pop(pid)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    connection.close()


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


class KernelServer(LocalServer):
    """The kernel server of one run (a :class:`~.localserver.LocalServer`) for the site's
    ``notebooks``; ``env``: the builders' deterministic environment, set in the server before
    it imports anything."""

    def __init__(self, notebooks: list[Path], env: dict[str, str]) -> None:
        self.modules = common_imports(notebooks) + list(ANALYSIS_LIBRARIES)
        super().__init__(__name__, self.modules, env)


# --- the builder's side ---------------------------------------------------------------------


class WarmKernel:
    """A forked kernel as the provisioner sees a started one (``poll``, ``wait``, signals)."""

    stdin = stdout = stderr = None  # the provisioner closes these of a started kernel

    def __init__(self, connection: socket.socket, pid: int) -> None:
        self.connection = connection
        self.pid = pid
        self.returncode: int | None = None
        self._received = b""

    def poll(self) -> int | None:
        """The exit status if the server has reported the kernel's end, else ``None``."""
        while self.returncode is None and select.select([self.connection], [], [], 0)[0]:
            self._receive()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self.connection], [], [], left)[0]:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            self._receive()
        return self.returncode

    def _receive(self) -> None:
        chunk = self.connection.recv(4096)
        self._received += chunk
        if chunk and not self._received.endswith(b"\n"):
            return
        if chunk:
            message = json.loads(self._received)
            self.returncode = int(message["exit"])
            _PEAKS_KIB.append(int(message["maxrss_kib"]))
        else:  # the server is gone, and its kernels with it
            self.returncode = -signal.SIGKILL
        self.connection.close()

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def fork_kernel(address: str, argv: list[str], env: dict, cwd: str) -> WarmKernel | None:
    """Ask the server at ``address`` for a kernel; ``None`` if it cannot give one."""
    try:
        connection = connect(address, REQUEST_TIMEOUT_SECONDS)
    except OSError:
        return None
    try:
        send(connection, {"argv": argv, "env": env, "cwd": cwd})
        return WarmKernel(connection, int(receive(connection)["pid"]))
    except (OSError, ValueError, KeyError):
        connection.close()
        return None


def _launcher_arguments(cmd: list[str]) -> list[str] | None:
    """The arguments after ``-m ipykernel_launcher`` of a kernel command, if it is one."""
    for i in range(len(cmd) - 1):
        if cmd[i] == "-m" and cmd[i + 1] == "ipykernel_launcher":
            return cmd[i + 2:]
    return None


class WarmProvisioner(LocalProvisioner):
    """Forks the kernel from the server named by :data:`ADDRESS_ENV` when there is one."""

    async def launch_kernel(self, cmd: list[str], **kwargs):
        address = os.environ.get(ADDRESS_ENV)
        argv = _launcher_arguments(cmd)
        if address and argv is not None:
            env = dict(kwargs.get("env") or os.environ)
            kernel = fork_kernel(address, argv, env, str(kwargs.get("cwd") or os.getcwd()))
            if kernel is not None:
                self.process, self.pid, self.pgid = kernel, kernel.pid, kernel.pid
                self.cwd = kwargs.get("cwd") or os.getcwd()
                return self.connection_info
        return await super().launch_kernel(cmd, **kwargs)


class WarmKernelManager(KernelManager):
    """nbclient's kernel manager, with :class:`WarmProvisioner`."""

    async def _async_pre_start_kernel(self, **kw):
        if self.provisioner is None:
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or str(uuid.uuid4())
            self.provisioner = WarmProvisioner(kernel_id=self.kernel_id,
                                               kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2:])
