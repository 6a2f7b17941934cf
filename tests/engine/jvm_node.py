"""Run a real search-engine node (OpenSearch or Elasticsearch) from Maven Central jars, for tests.

The parts the OpenSearch and the Elasticsearch test nodes share: resolving and caching the
classpath with Maven, compiling the engine's small ``Launcher.java``, starting ``java`` in its
own session bound to 127.0.0.1, waiting until cluster health is at least yellow, stopping it
(SIGTERM, then SIGKILL), crashing it (SIGKILL), pausing it, and the ``start|stop|prefetch``
command line with its pidfile, urlfile and state file.

What differs between the engines is data, an :class:`EngineSpec`: the directory that holds
``pom.xml``, the Java sources and ``log4j2.properties``, the version, the cache location.
``tests/engine/opensearch_node.py`` and ``tests/engine/elasticsearch_node.py`` each define one
and a thin subclass of :class:`JvmNode`.
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
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, ClassVar, Self

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_HEAP = "512m"
#: Java compiled with every engine's launcher: HOME folders, settings arguments, shutdown hook,
#: stdin watchdog (the engines' own classes differ only in their package names).
SHARED_SOURCES = (Path(__file__).resolve().parent / "java" / "LauncherSupport.java",)

_LOG_TAIL_LINES = 60
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class EngineSpec:
    """What one engine's test node is made of (all paths inside ``engine_dir``)."""

    product: str  # "OpenSearch", "Elasticsearch": for messages
    version: str
    engine_dir: Path  # holds pom.xml, Launcher.java (+ engine-specific sources), log4j2.properties
    cache_env: str  # environment variable that overrides the cache directory
    cache_name: str  # ~/.cache/portalnews/<cache_name>
    extra_sources: tuple[str, ...] = ()  # Java sources besides Launcher.java, relative to engine_dir

    @property
    def pom(self) -> Path:
        return self.engine_dir / "pom.xml"

    @property
    def sources(self) -> tuple[Path, ...]:
        return (self.engine_dir / "Launcher.java", *(self.engine_dir / s for s in self.extra_sources),
                *SHARED_SOURCES)

    @property
    def log4j_config(self) -> Path:
        return self.engine_dir / "log4j2.properties"

    def default_cache_dir(self) -> Path:
        """The cache directory for the resolved classpath and the compiled launcher."""
        env = os.environ.get(self.cache_env)
        if env:
            return Path(env).expanduser()
        return Path.home() / ".cache" / "portalnews" / self.cache_name


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name!r} not found on PATH; the embedded search engine needs a JDK 17 and Maven")
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


def _cache_key(spec: EngineSpec) -> str:
    digest = hashlib.sha256()
    for source in (spec.pom, *spec.sources):
        digest.update(source.read_bytes())
    # Class files depend on the JDK that compiled them.
    digest.update(os.path.realpath(require_tool("javac")).encode())
    return digest.hexdigest()[:16]


def _classpath_is_valid(cp_file: Path) -> bool:
    if not cp_file.is_file():
        return False
    entries = [e for e in cp_file.read_text(encoding="utf-8").strip().split(os.pathsep) if e]
    return bool(entries) and all(Path(e).is_file() for e in entries)


def _resolve_classpath(spec: EngineSpec, cp_file: Path, timeout: float) -> None:
    mvn = require_tool("mvn")
    tmp = cp_file.with_suffix(".tmp")
    base = [mvn, "-B", "-q", "-f", str(spec.pom), "dependency:build-classpath", f"-Dmdep.outputFile={tmp}"]
    started = time.monotonic()
    result = _run_tool([*base[:3], "-o", *base[3:]], timeout=timeout)
    if result.returncode != 0:
        logger.info("offline Maven resolve failed; resolving %s %s jars from Maven Central",
                    spec.product, spec.version)
        result = _run_tool(base, timeout=timeout - (time.monotonic() - started))
    if result.returncode != 0 or not tmp.is_file():
        raise RuntimeError(
            f"mvn dependency:build-classpath failed (exit {result.returncode}):\n{result.stdout[-4000:]}"
        )
    tmp.replace(cp_file)
    logger.info("resolved %s classpath in %.1fs", spec.product, time.monotonic() - started)


def _compile_launcher(spec: EngineSpec, classes_dir: Path, jars: str, timeout: float) -> None:
    javac = require_tool("javac")
    tmp = Path(tempfile.mkdtemp(prefix="classes-", dir=classes_dir.parent))
    try:
        cmd = [javac, "-encoding", "UTF-8", "-nowarn", "-d", str(tmp), "-cp", jars, *map(str, spec.sources)]
        result = _run_tool(cmd, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(
                f"javac Launcher.java failed (exit {result.returncode}):\n{result.stdout[-4000:]}"
            )
        shutil.rmtree(classes_dir, ignore_errors=True)
        tmp.rename(classes_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def prefetch(spec: EngineSpec, cache_dir: Path | None = None, timeout: float = 900.0) -> str:
    """Resolve the engine's jars and compile its launcher; return the java classpath.

    Safe to call concurrently (a file lock serialises the work) and cheap when cached.
    Maven runs offline first and only goes to Maven Central when ``~/.m2`` lacks a jar.
    """
    cache = (cache_dir or spec.default_cache_dir()) / _cache_key(spec)
    cp_file = cache / "cp.txt"
    classes_dir = cache / "classes"
    deadline = time.monotonic() + timeout
    with _file_lock(cache / ".lock"):
        if not _classpath_is_valid(cp_file):
            _resolve_classpath(spec, cp_file, deadline - time.monotonic())
        jars = cp_file.read_text(encoding="utf-8").strip()
        if not (classes_dir / "Launcher.class").is_file():
            _compile_launcher(spec, classes_dir, jars, deadline - time.monotonic())
    return f"{classes_dir}{os.pathsep}{jars}"


def http_json(url: str, timeout: float) -> dict[str, Any]:
    """GET ``url`` (no proxy) and decode its JSON answer."""
    with _NO_PROXY_OPENER.open(url, timeout=timeout) as response:
        data: dict[str, Any] = json.loads(response.read().decode("utf-8"))
        return data


def _proc_status(pid: int, key: str) -> str | None:
    """The first word of ``key:`` in /proc/PID/status; "" if absent, None if no such process."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(f"{key}:"):
            return line.split()[1]
    return ""


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    state = _proc_status(pid, "State")
    return state is not None and state not in ("Z", "X")


def is_our_launcher(pid: int) -> bool:
    """Whether ``pid`` is a ``java … Launcher`` process (never kill anything else by pidfile)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"Launcher" in cmdline and any(arg.endswith(b"java") for arg in cmdline[:1])


def rss_bytes(pid: int) -> int | None:
    """Return the resident set size of ``pid`` in bytes (Linux), or None if unknown."""
    kib = _proc_status(pid, "VmRSS")
    return int(kib) * 1024 if kib else None


# --------------------------------------------------------------------------- the node


class JvmNode:
    """A real engine node in a child ``java`` process, bound to 127.0.0.1.

    Subclasses set :attr:`SPEC`. ``home``: use this directory as the node's HOME instead of a
    fresh temporary one (a given HOME is never deleted; ``stop(wipe=True)`` only removes its
    ``data``). ``port``: HTTP port (default: a free one, kept across restarts). ``settings``:
    extra node settings, e.g. ``{"action.auto_create_index": "false"}``. ``heap``: JVM heap
    (``-Xms``/``-Xmx``). ``detached``: keep the node running when this Python process exits
    (used by the CLI); otherwise the node also shuts itself down when its parent dies.
    ``delete_home``: whether ``stop(wipe=True)`` deletes HOME itself (default: only a
    temporary HOME created here). ``wait_for``: the cluster health that start() waits for
    (``yellow``; a cluster member may pass ``None`` to wait only until it answers HTTP).
    """

    SPEC: ClassVar[EngineSpec]

    def __init__(
        self,
        *,
        home: str | Path | None = None,
        port: int | None = None,
        settings: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
        detached: bool = False,
        delete_home: bool | None = None,
        heap: str = DEFAULT_HEAP,
        wait_for: str | None = "yellow",
    ) -> None:
        self._home: Path | None = Path(home).resolve() if home is not None else None
        self._owns_home = home is None if delete_home is None else delete_home
        self._requested_port = port
        self._port = port
        self._settings = dict(settings or {})
        self._cache_dir = cache_dir
        self._detached = detached
        self._heap = heap
        self._wait_for = wait_for
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None
        self._atexit_registered = False
        self.last_start_seconds: float | None = None

    @property
    def product(self) -> str:
        return self.SPEC.product

    # ---------------------------------------------------------------- properties

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234`` (known once start() picked the port)."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} has no port yet: call start() first")
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

    @property
    def settings(self) -> dict[str, str]:
        """The extra node settings passed to the launcher (a copy)."""
        return dict(self._settings)

    # ---------------------------------------------------------------- lifecycle

    def start(self, timeout: float = 180) -> str:
        """Start the node (or restart it on the kept HOME) and return its base URL.

        Blocks until the node answers and cluster health is at least ``wait_for``.
        Raises RuntimeError with the tail of the node's log if it fails or times out.
        """
        if self.running:
            return self.url
        started = time.monotonic()
        deadline = started + timeout
        classpath = prefetch(self.SPEC, self._cache_dir, timeout=timeout)

        fresh = self._home is None or not (self._home / "data").exists()
        if self._home is None:
            self._home = Path(tempfile.mkdtemp(prefix=f"portalnews-{self.SPEC.cache_name}-"))
        self._home.mkdir(parents=True, exist_ok=True)
        if self._port is None:
            self._port = free_port()

        java = require_tool("java")
        cmd = [
            java,
            f"-Xms{self._heap}",
            f"-Xmx{self._heap}",
            "-XX:-UsePerfData",
            "-Djava.awt.headless=true",
            "-Dfile.encoding=UTF-8",
            f"-Dlog4j2.configurationFile={self.SPEC.log4j_config}",
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
        self._log_handle.write(f"\n=== portalnews: starting {' '.join(cmd[:9])} ...\n".encode())
        self._log_handle.flush()
        logger.info("starting %s %s on %s (HOME %s)", self.product, self.SPEC.version, self.url, self._home)
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
            self._wait_ready(deadline)
        except RuntimeError as exc:
            tail = _tail(self.log_path)
            self.stop(wipe=fresh and self._owns_home)
            raise RuntimeError(f"{exc}\n--- last lines of the {self.product} log ---\n{tail}") from exc
        except BaseException:
            # Keep kept data for another try, but never leak a fresh temp HOME or a process.
            self.stop(wipe=fresh and self._owns_home)
            raise
        self.last_start_seconds = time.monotonic() - started
        logger.info("%s ready at %s in %.1fs (pid %s)", self.product, self.url, self.last_start_seconds, self.pid)
        return self.url

    def _wait_ready(self, deadline: float) -> None:
        """Poll ``_cluster/health`` (both engines serve it; a core Elasticsearch node has no
        ``GET /``) until the node answers and, unless ``wait_for`` is None, is that healthy."""
        assert self._proc is not None
        while True:
            code = self._proc.poll()
            if code is not None:
                raise RuntimeError(f"{self.product} exited with code {code} during startup")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"{self.product} did not become healthy in time")
            try:
                if self._wait_for is None:
                    http_json(f"{self.url}/_cluster/health?local=true", timeout=min(5.0, remaining))
                    return
                wait = max(1, min(30, int(remaining)))
                health = http_json(
                    f"{self.url}/_cluster/health?wait_for_status={self._wait_for}&timeout={wait}s",
                    timeout=wait + 5,
                )
                if not health.get("timed_out"):
                    return
                logger.debug("cluster health not yet %s: %s", self._wait_for, health)
            except urllib.error.HTTPError as exc:
                # 503 while no master is elected yet (a cluster member waiting for its peers).
                logger.debug("%s not ready yet: HTTP %s", self.product, exc.code)
                time.sleep(0.25)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                logger.debug("%s not up yet: %s", self.product, exc)
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
                logger.warning("%s pid %s ignored SIGTERM for %ss; killing it", self.product, proc.pid, timeout)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
            logger.info("%s pid %s stopped (exit %s)", self.product, proc.pid, proc.returncode)
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

    def __enter__(self) -> Self:
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
        return f"{type(self).__name__}(port={self._port}, pid={self.pid}, home={self._home})"


# --------------------------------------------------------------------------- CLI


def _state_path(pidfile: Path) -> Path:
    return pidfile.with_name(pidfile.name + ".state.json")


def stop_pid(pid: int, product: str, timeout: float) -> None:
    """SIGTERM a launcher process, SIGKILL it after ``timeout`` seconds; wait until it is gone."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        print(f"{product} pid {pid} ignored SIGTERM; sending SIGKILL", file=sys.stderr)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while pid_alive(pid) and time.monotonic() < deadline + 30:
            time.sleep(0.1)


class NodeCli:
    """``python -m tests.engine.<engine>_node start|stop|prefetch`` for one node class."""

    def __init__(self, node_class: type[JvmNode], prog: str) -> None:
        self.node_class = node_class
        self.spec = node_class.SPEC
        self.prog = prog

    def start(self, args: argparse.Namespace) -> int:
        pidfile, urlfile = Path(args.pidfile), Path(args.urlfile)
        state_file = _state_path(pidfile)
        home: Path | None = Path(args.home) if args.home else None
        port: int | None = args.port
        if args.resume and state_file.is_file():
            state = json.loads(state_file.read_text(encoding="utf-8"))
            old_pid = int(state.get("pid") or 0)
            if old_pid and pid_alive(old_pid) and is_our_launcher(old_pid):
                pidfile.write_text(f"{old_pid}\n", encoding="utf-8")
                urlfile.write_text(f"{state['url']}\n", encoding="utf-8")
                print(state["url"])
                return 0
            home, port = Path(state["home"]), int(state["port"])
        # A HOME made by an earlier `start` may be deleted by `stop` as usual; a --home given
        # here belongs to the caller: `stop` then removes only its data.
        node = self.node_class(home=home, port=port, detached=True, heap=args.heap,
                               delete_home=not args.home)
        try:
            url = node.start(timeout=args.timeout)
        except RuntimeError as exc:
            print(f"{self.spec.product} failed to start: {exc}", file=sys.stderr)
            return 1
        assert node.pid is not None
        assert node.home is not None
        state = {
            "pid": node.pid,
            "url": url,
            "port": node.port,
            "home": str(node.home),
            "owns_home": not args.home,
            "log": str(node.log_path),
            "start_seconds": round(node.last_start_seconds or 0.0, 1),
        }
        state_file.write_text(json.dumps(state), encoding="utf-8")
        pidfile.write_text(f"{node.pid}\n", encoding="utf-8")
        urlfile.write_text(f"{url}\n", encoding="utf-8")
        print(url)
        logger.info("%s started in %.1fs", self.spec.product, node.last_start_seconds or 0.0)
        node.detach()
        return 0

    def stop(self, args: argparse.Namespace) -> int:
        pidfile = Path(args.pidfile)
        state_file = _state_path(pidfile)
        product = self.spec.product
        state: dict[str, Any] = {}
        if state_file.is_file():
            state = json.loads(state_file.read_text(encoding="utf-8"))
        pid: int | None = None
        if pidfile.is_file():
            text = pidfile.read_text(encoding="utf-8").strip()
            pid = int(text) if text.isdigit() else None
        if pid is not None and pid_alive(pid):
            if not is_our_launcher(pid):
                print(f"pid {pid} is not an embedded {product} Launcher; not killing it", file=sys.stderr)
                return 1
            stop_pid(pid, product, args.timeout)
            print(f"stopped {product} pid {pid}")
        else:
            print(f"{product} was not running", file=sys.stderr)
        pidfile.unlink(missing_ok=True)
        if args.keep_data:
            if state:
                state["pid"] = 0
                state_file.write_text(json.dumps(state), encoding="utf-8")
        else:
            if state.get("home"):
                home = Path(state["home"])
                shutil.rmtree(home if state.get("owns_home", True) else home / "data", ignore_errors=True)
            state_file.unlink(missing_ok=True)
        return 0

    def prefetch(self, args: argparse.Namespace) -> int:
        started = time.monotonic()
        classpath = prefetch(self.spec, timeout=args.timeout)
        print(
            f"{self.spec.product} {self.spec.version} ready to run: {len(classpath.split(os.pathsep))} "
            f"classpath entries in {time.monotonic() - started:.1f}s"
        )
        return 0

    def parser(self) -> argparse.ArgumentParser:
        product, version = self.spec.product, self.spec.version
        parser = argparse.ArgumentParser(
            prog=self.prog,
            description=f"Run a real single-node {product} {version} from Maven Central jars for tests.",
        )
        parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
        sub = parser.add_subparsers(dest="command", required=True)

        start = sub.add_parser("start", help="start a detached node; exit 0 once it is healthy")
        start.add_argument("--pidfile", required=True, help="file to write the java pid to")
        start.add_argument("--urlfile", required=True, help="file to write the base URL to")
        start.add_argument("--port", type=int, default=None, help="HTTP port (default: a free one)")
        start.add_argument("--home", default=None,
                           help="node HOME (default: a fresh temporary directory, deleted by stop)")
        start.add_argument("--heap", default=DEFAULT_HEAP, help=f"JVM heap (default {DEFAULT_HEAP})")
        start.add_argument("--timeout", type=float, default=600.0, help="seconds, including a cold Maven resolve")
        start.add_argument("--resume", action="store_true", help="restart on the data kept by stop --keep-data")
        start.set_defaults(func=self.start)

        stop = sub.add_parser("stop", help="stop the node started with the same --pidfile")
        stop.add_argument("--pidfile", required=True)
        stop.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL")
        stop.add_argument("--keep-data", action="store_true", help="keep HOME and port for start --resume")
        stop.set_defaults(func=self.stop)

        pre = sub.add_parser("prefetch", help="only resolve the jars and compile the launcher")
        pre.add_argument("--timeout", type=float, default=900.0)
        pre.set_defaults(func=self.prefetch)
        return parser

    def main(self, argv: Sequence[str] | None = None) -> int:
        args = self.parser().parse_args(argv)
        logging.basicConfig(
            level=logging.DEBUG if args.verbose else logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        result: int = args.func(args)
        return result
