"""A real single-node OpenSearch 2.19.6 for tests, started from Maven Central jars.

No Docker and no mock: ``tests/engine/opensearch/pom.xml`` lists the server and the
plugins the project needs (netty4 transport, analysis-common, mapper-extras, reindex);
Maven resolves their classpath once, ``javac`` compiles the tiny
``tests/engine/opensearch/Launcher.java``, and ``java`` runs it with a 512 MiB heap,
bound to 127.0.0.1 only. Both steps are cached under ``~/.cache/portalnews/opensearch``
(or ``$PORTALNEWS_OPENSEARCH_CACHE``), keyed by the content of the pom and the launcher.

Python API::

    with OpenSearchNode() as node:        # start() on enter, stop() on exit
        client = OpenSearch(node.url)      # e.g. http://127.0.0.1:41234

    node = OpenSearchNode()
    url = node.start()                     # blocks until GET / answers and health is yellow
    node.stop(wipe=False)                  # or node.kill(): keep HOME, data and port ...
    node.start()                           # ... and restart on the same data, same URL
    node.stop()                            # SIGTERM, then SIGKILL; wipes the temporary HOME

Command line (for CI scripts)::

    python -m tests.engine.opensearch_node prefetch
    python -m tests.engine.opensearch_node start --pidfile F --urlfile U
    python -m tests.engine.opensearch_node stop --pidfile F [--keep-data]
    python -m tests.engine.opensearch_node start --pidfile F --urlfile U --resume

``start`` leaves the node running detached and exits 0 once the node is healthy;
``stop`` terminates it and removes its temporary HOME (unless ``--keep-data``, after
which ``start --resume`` restarts it on the same data and port).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

logger = logging.getLogger(__name__)

OPENSEARCH_VERSION = "2.19.6"
HEAP = "512m"
HOST = "127.0.0.1"
CACHE_ENV = "PORTALNEWS_OPENSEARCH_CACHE"

ENGINE_DIR = Path(__file__).resolve().parent / "opensearch"
POM = ENGINE_DIR / "pom.xml"
LAUNCHER_SOURCE = ENGINE_DIR / "Launcher.java"
LOG4J_CONFIG = ENGINE_DIR / "log4j2.properties"

_LOG_TAIL_LINES = 60
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --------------------------------------------------------------------------- helpers


def default_cache_dir() -> Path:
    """Return the cache directory for the resolved classpath and compiled launcher."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "portalnews" / "opensearch"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name!r} not found on PATH; the embedded OpenSearch needs a JDK 17 and Maven")
    return path


def _tail(path: Path | None, lines: int = _LOG_TAIL_LINES) -> str:
    if path is None or not path.exists():
        return "(no log)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def _run_tool(
    cmd: Sequence[str], *, timeout: float, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    logger.debug("running %s", " ".join(cmd))
    return subprocess.run(
        list(cmd),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=max(timeout, 1.0),
        check=False,
    )


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _cache_key() -> str:
    digest = hashlib.sha256()
    for source in (POM, LAUNCHER_SOURCE):
        digest.update(source.read_bytes())
    # Class files depend on the JDK that compiled them.
    digest.update(os.path.realpath(_require_tool("javac")).encode())
    return digest.hexdigest()[:16]


def _classpath_is_valid(cp_file: Path) -> bool:
    if not cp_file.is_file():
        return False
    entries = [e for e in cp_file.read_text(encoding="utf-8").strip().split(os.pathsep) if e]
    return bool(entries) and all(Path(e).is_file() for e in entries)


def _resolve_classpath(cp_file: Path, timeout: float) -> None:
    mvn = _require_tool("mvn")
    tmp = cp_file.with_suffix(".tmp")
    base = [mvn, "-B", "-q", "-f", str(POM), "dependency:build-classpath", f"-Dmdep.outputFile={tmp}"]
    started = time.monotonic()
    result = _run_tool([*base[:3], "-o", *base[3:]], timeout=timeout)
    if result.returncode != 0:
        logger.info(
            "offline Maven resolve failed; resolving OpenSearch %s jars from Maven Central",
            OPENSEARCH_VERSION,
        )
        result = _run_tool(base, timeout=timeout - (time.monotonic() - started))
    if result.returncode != 0 or not tmp.is_file():
        raise RuntimeError(
            f"mvn dependency:build-classpath failed (exit {result.returncode}):\n{result.stdout[-4000:]}"
        )
    tmp.replace(cp_file)
    logger.info("resolved OpenSearch classpath in %.1fs", time.monotonic() - started)


def _compile_launcher(classes_dir: Path, jars: str, timeout: float) -> None:
    javac = _require_tool("javac")
    tmp = Path(tempfile.mkdtemp(prefix="classes-", dir=classes_dir.parent))
    try:
        cmd = [javac, "-encoding", "UTF-8", "-nowarn", "-d", str(tmp), "-cp", jars, str(LAUNCHER_SOURCE)]
        result = _run_tool(cmd, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(
                f"javac Launcher.java failed (exit {result.returncode}):\n{result.stdout[-4000:]}"
            )
        shutil.rmtree(classes_dir, ignore_errors=True)
        tmp.rename(classes_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def prefetch(cache_dir: Path | None = None, timeout: float = 900.0) -> str:
    """Resolve the OpenSearch jars and compile the launcher; return the java classpath.

    Safe to call concurrently (a file lock serialises the work) and cheap when cached.
    Maven runs offline first and only goes to Maven Central when ``~/.m2`` lacks a jar.
    """
    cache = (cache_dir or default_cache_dir()) / _cache_key()
    cp_file = cache / "cp.txt"
    classes_dir = cache / "classes"
    deadline = time.monotonic() + timeout
    with _file_lock(cache / ".lock"):
        if not _classpath_is_valid(cp_file):
            _resolve_classpath(cp_file, deadline - time.monotonic())
        jars = cp_file.read_text(encoding="utf-8").strip()
        if not (classes_dir / "Launcher.class").is_file():
            _compile_launcher(classes_dir, jars, deadline - time.monotonic())
    return f"{classes_dir}{os.pathsep}{jars}"


def _http_json(url: str, timeout: float) -> dict[str, Any]:
    with _NO_PROXY_OPENER.open(url, timeout=timeout) as response:
        data: dict[str, Any] = json.loads(response.read().decode("utf-8"))
        return data


def _process_state(pid: int) -> str | None:
    """Return the /proc state letter of ``pid`` or None if it does not exist."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("State:"):
            return line.split()[1]
    return "?"


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    state = _process_state(pid)
    return state is not None and state not in ("Z", "X")


def _is_our_launcher(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"Launcher" in cmdline and any(arg.endswith(b"java") for arg in cmdline[:1])


def rss_bytes(pid: int) -> int | None:
    """Return the resident set size of ``pid`` in bytes (Linux), or None if unknown."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


# --------------------------------------------------------------------------- the node


class OpenSearchNode:
    """A real OpenSearch 2.19.6 node in a child ``java`` process, bound to 127.0.0.1.

    ``home``: use this directory as the node's HOME instead of a fresh temporary one
    (a given HOME is never deleted; ``stop(wipe=True)`` only removes its ``data``).
    ``port``: HTTP port (default: a free one, kept across restarts).
    ``settings``: extra node settings, e.g. ``{"action.auto_create_index": "false"}``.
    ``detached``: keep the node running when this Python process exits (used by the CLI);
    otherwise the node also shuts itself down when its parent dies.
    ``delete_home``: whether ``stop(wipe=True)`` deletes HOME itself (default: only a
    temporary HOME created here).
    """

    def __init__(
        self,
        *,
        home: str | Path | None = None,
        port: int | None = None,
        settings: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
        detached: bool = False,
        delete_home: bool | None = None,
    ) -> None:
        self._home: Path | None = Path(home).resolve() if home is not None else None
        self._owns_home = home is None if delete_home is None else delete_home
        self._requested_port = port
        self._port = port
        self._settings = dict(settings or {})
        self._cache_dir = cache_dir
        self._detached = detached
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None
        self._atexit_registered = False
        self.last_start_seconds: float | None = None

    # ---------------------------------------------------------------- properties

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234`` (known once start() picked the port)."""
        if self._port is None:
            raise RuntimeError("OpenSearchNode has no port yet: call start() first")
        return f"http://{HOST}:{self._port}"

    @property
    def port(self) -> int | None:
        """HTTP port, or None before the first start()."""
        return self._port

    @property
    def pid(self) -> int | None:
        """PID of the java process while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def running(self) -> bool:
        """Whether the java process is alive (it may be paused)."""
        return self.pid is not None

    @property
    def home(self) -> Path | None:
        """The node's HOME directory (``data``, ``logs``, ``node.log``)."""
        return self._home

    @property
    def log_path(self) -> Path | None:
        """File that receives the node's stdout and stderr."""
        return self._home / "node.log" if self._home is not None else None

    # ---------------------------------------------------------------- lifecycle

    def start(self, timeout: float = 180) -> str:
        """Start the node (or restart it on the kept HOME) and return its base URL.

        Blocks until ``GET /`` answers and cluster health is at least yellow.
        Raises RuntimeError with the tail of the node's log if it fails or times out.
        """
        if self.running:
            return self.url
        started = time.monotonic()
        deadline = started + timeout
        classpath = prefetch(self._cache_dir, timeout=timeout)

        fresh = self._home is None or not (self._home / "data").exists()
        if self._home is None:
            self._home = Path(tempfile.mkdtemp(prefix="portalnews-opensearch-"))
        self._home.mkdir(parents=True, exist_ok=True)
        if self._port is None:
            self._port = free_port()

        java = _require_tool("java")
        cmd = [
            java,
            f"-Xms{HEAP}",
            f"-Xmx{HEAP}",
            "-XX:-UsePerfData",
            "-Djava.awt.headless=true",
            "-Dfile.encoding=UTF-8",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dportalnews.exitOnStdinEof={'false' if self._detached else 'true'}",
            "-cp",
            classpath,
            "Launcher",
            str(self._home),
            str(self._port),
            *(f"{key}={value}" for key, value in self._settings.items()),
        ]
        assert self.log_path is not None
        self._log_handle = self.log_path.open("ab")
        self._log_handle.write(f"\n=== portalnews: starting {' '.join(cmd[:-3])} ...\n".encode())
        self._log_handle.flush()
        logger.info("starting OpenSearch %s on %s (HOME %s)", OPENSEARCH_VERSION, self.url, self._home)
        self._proc = subprocess.Popen(
            cmd,
            cwd=self._home,
            stdin=subprocess.DEVNULL if self._detached else subprocess.PIPE,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not self._detached and not self._atexit_registered:
            atexit.register(self._stop_at_exit)
            self._atexit_registered = True
        try:
            self._wait_healthy(deadline)
        except RuntimeError as exc:
            tail = _tail(self.log_path)
            self.stop(wipe=fresh and self._owns_home)
            raise RuntimeError(f"{exc}\n--- last lines of the OpenSearch log ---\n{tail}") from exc
        except BaseException:
            # Keep kept data for another try, but never leak a fresh temp HOME or a process.
            self.stop(wipe=fresh and self._owns_home)
            raise
        self.last_start_seconds = time.monotonic() - started
        logger.info("OpenSearch ready at %s in %.1fs (pid %s)", self.url, self.last_start_seconds, self.pid)
        return self.url

    def _wait_healthy(self, deadline: float) -> None:
        assert self._proc is not None
        root_ok = False
        while True:
            code = self._proc.poll()
            if code is not None:
                raise RuntimeError(f"OpenSearch exited with code {code} during startup")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError("OpenSearch did not become healthy in time")
            try:
                if not root_ok:
                    _http_json(self.url + "/", timeout=min(5.0, remaining))
                    root_ok = True
                wait = max(1, min(30, int(remaining)))
                health = _http_json(
                    f"{self.url}/_cluster/health?wait_for_status=yellow&timeout={wait}s",
                    timeout=wait + 5,
                )
                if health.get("status") in ("yellow", "green") and not health.get("timed_out"):
                    return
                logger.debug("cluster health not yet yellow: %s", health)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                logger.debug("OpenSearch not up yet: %s", exc)
                time.sleep(0.25)

    def stop(self, wipe: bool = True, timeout: float = 30, graceful: bool = True) -> None:
        """Stop the node: SIGTERM (clean close), then SIGKILL after ``timeout`` seconds.

        ``wipe=True`` deletes the temporary HOME (or the ``data`` of a given HOME) and
        forgets a picked port; ``wipe=False`` keeps both so that start() restarts the node
        on the same data at the same URL. ``graceful=False`` sends SIGKILL at once
        (a crash, for recovery tests).
        """
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)  # in case it was paused
                os.kill(proc.pid, signal.SIGTERM if graceful else signal.SIGKILL)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                logger.warning("OpenSearch pid %s ignored SIGTERM for %ss; killing it", proc.pid, timeout)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
            logger.info("OpenSearch pid %s stopped (exit %s)", proc.pid, proc.returncode)
        if proc is not None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        if wipe and self._home is not None:
            if self._owns_home:
                shutil.rmtree(self._home, ignore_errors=True)
                self._home = None
            else:
                shutil.rmtree(self._home / "data", ignore_errors=True)
            self._port = self._requested_port

    def detach(self) -> None:
        """Forget the running process without stopping it (the CLI's detached start)."""
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        self._proc = None

    def kill(self) -> None:
        """SIGKILL the node but keep its data and port, like a crash; start() recovers."""
        self.stop(wipe=False, graceful=False)

    def pause(self) -> None:
        """Freeze the java process (SIGSTOP): requests hang until resume()."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Continue a paused node (SIGCONT)."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGCONT)

    def rss_bytes(self) -> int | None:
        """Resident memory of the java process in bytes, or None if it is not running."""
        pid = self.pid
        return rss_bytes(pid) if pid is not None else None

    def _stop_at_exit(self) -> None:
        if self._proc is not None or (self._owns_home and self._home is not None):
            self.stop()

    def __enter__(self) -> OpenSearchNode:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"OpenSearchNode(port={self._port}, pid={self.pid}, home={self._home})"


# --------------------------------------------------------------------------- CLI


def _state_path(pidfile: Path) -> Path:
    return pidfile.with_name(pidfile.name + ".state.json")


def _cli_start(args: argparse.Namespace) -> int:
    pidfile, urlfile = Path(args.pidfile), Path(args.urlfile)
    state_file = _state_path(pidfile)
    home: Path | None = None
    port: int | None = args.port
    if args.resume and state_file.is_file():
        state = json.loads(state_file.read_text(encoding="utf-8"))
        old_pid = int(state.get("pid") or 0)
        if old_pid and pid_alive(old_pid) and _is_our_launcher(old_pid):
            pidfile.write_text(f"{old_pid}\n", encoding="utf-8")
            urlfile.write_text(f"{state['url']}\n", encoding="utf-8")
            print(state["url"])
            return 0
        home, port = Path(state["home"]), int(state["port"])
    # A resumed HOME was made by an earlier `start`, so `stop` may delete it as usual.
    node = OpenSearchNode(home=home, port=port, detached=True, delete_home=True)
    try:
        url = node.start(timeout=args.timeout)
    except RuntimeError as exc:
        print(f"OpenSearch failed to start: {exc}", file=sys.stderr)
        return 1
    assert node.pid is not None
    assert node.home is not None
    state = {
        "pid": node.pid,
        "url": url,
        "port": node.port,
        "home": str(node.home),
        "log": str(node.log_path),
    }
    state_file.write_text(json.dumps(state), encoding="utf-8")
    pidfile.write_text(f"{node.pid}\n", encoding="utf-8")
    urlfile.write_text(f"{url}\n", encoding="utf-8")
    print(url)
    node.detach()
    return 0


def _cli_stop(args: argparse.Namespace) -> int:
    pidfile = Path(args.pidfile)
    state_file = _state_path(pidfile)
    state: dict[str, Any] = {}
    if state_file.is_file():
        state = json.loads(state_file.read_text(encoding="utf-8"))
    pid: int | None = None
    if pidfile.is_file():
        text = pidfile.read_text(encoding="utf-8").strip()
        pid = int(text) if text.isdigit() else None
    if pid is not None and pid_alive(pid):
        if not _is_our_launcher(pid):
            print(f"pid {pid} is not an embedded OpenSearch Launcher; not killing it", file=sys.stderr)
            return 1
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + args.timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_alive(pid):
            print(f"OpenSearch pid {pid} ignored SIGTERM; sending SIGKILL", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while pid_alive(pid) and time.monotonic() < deadline + 30:
                time.sleep(0.1)
        print(f"stopped OpenSearch pid {pid}")
    else:
        print("OpenSearch was not running", file=sys.stderr)
    pidfile.unlink(missing_ok=True)
    if args.keep_data:
        if state:
            state["pid"] = 0
            state_file.write_text(json.dumps(state), encoding="utf-8")
    else:
        if state.get("home"):
            shutil.rmtree(state["home"], ignore_errors=True)
        state_file.unlink(missing_ok=True)
    return 0


def _cli_prefetch(args: argparse.Namespace) -> int:
    started = time.monotonic()
    classpath = prefetch(timeout=args.timeout)
    print(
        f"OpenSearch {OPENSEARCH_VERSION} ready to run: {len(classpath.split(os.pathsep))} classpath entries "
        f"in {time.monotonic() - started:.1f}s"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m tests.engine.opensearch_node``."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.engine.opensearch_node",
        description="Run a real single-node OpenSearch 2.19.6 from Maven Central jars for tests.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    start = sub.add_parser("start", help="start a detached node; exit 0 once it is healthy")
    start.add_argument("--pidfile", required=True, help="file to write the java pid to")
    start.add_argument("--urlfile", required=True, help="file to write the base URL to")
    start.add_argument("--port", type=int, default=None, help="HTTP port (default: a free one)")
    start.add_argument("--timeout", type=float, default=600.0, help="seconds, including a cold Maven resolve")
    start.add_argument("--resume", action="store_true", help="restart on the data kept by stop --keep-data")
    start.set_defaults(func=_cli_start)

    stop = sub.add_parser("stop", help="stop the node started with the same --pidfile")
    stop.add_argument("--pidfile", required=True)
    stop.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL")
    stop.add_argument("--keep-data", action="store_true", help="keep HOME and port for start --resume")
    stop.set_defaults(func=_cli_stop)

    pre = sub.add_parser("prefetch", help="only resolve the jars and compile the launcher")
    pre.add_argument("--timeout", type=float, default=900.0)
    pre.set_defaults(func=_cli_prefetch)

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
