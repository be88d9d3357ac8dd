"""What scripts/check-memory and scripts/soak share: the hostile requests, a raw HTTP client,
the services started from release builds, and MongoDB. A module, not a command.

The hostile requests are issue 9's findings, each sized against a limit the services or
actix-web set, so a fixed build answers them with a 4xx and stays inside its pod's memory.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Callable, NamedTuple, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KIB = 1024
MIB = 1024 * 1024

# The device API's body limit (backend/src/devices/routes.rs, MAX_BODY_BYTES; README: "a body
# over 1 MiB -> 413"), and the longest name or type a device may have (MAX_TEXT_CHARS in
# backend/src/devices/model.rs).
BODY_LIMIT = MIB
FIELD_LIMIT = 256
# actix-http 3 refuses a request head over 128 KiB or with more than 96 header lines with 431
# (MAX_BUFFER_SIZE and MAX_HEADERS in its h1/decoder.rs): "long" headers stay under both, so they
# reach the handlers; the "too long" ones go past them, to see that the refusal stays a 4xx.
HEAD_LIMIT = 128 * KIB
HEADER_LINES_LIMIT = 96
METHOD_BYTES = 20 * KIB
# The http crate takes a request target of at most 65534 bytes (beyond: 400 before any handler),
# so a long path that reaches the router, the metrics and the spans stays under it.
PATH_BYTES = 60 * KIB

# The services' own settings, dropped from the caller's environment so that a FAULT_ERROR_RATE
# or ZIPKIN_ENDPOINT left in a shell does not change what is measured (README: Configuration).
SERVICE_VARIABLES = {
    "PORT", "METRICS_PORT", "BIND", "BACKENDS", "BACKEND_TIMEOUT", "MONGODB_URI",
    "MONGO_DBNAME", "ZIPKIN_ENDPOINT", "TRAFFIC_RATE", "TRAFFIC_VIEWERS",
    "TRAFFIC_VIEWERS_PER_CLIENT", "LOG_FORMAT", "RUST_LOG", "SHUTDOWN_DELAY", "SHUTDOWN_GRACE",
    "FAULT_ERROR_RATE", "FAULT_ERROR_STATUS", "FAULT_DELAY", "FAULT_DELAY_RATE",
}


# ---------------------------------------------------------------- HTTP

class Answer:
    """One request's outcome: status (None when nothing came back), size of the body, the
    first bytes of it, and why there was no answer."""

    def __init__(self, status=None, headers=None, body=b"", size=0, ms=0.0, error=None):
        self.status, self.headers, self.body = status, headers or {}, body
        self.size, self.ms, self.error = size, ms, error

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def describe(self):
        return str(self.status) if self.status is not None else f"no answer ({self.error})"


def dechunk(data):
    """The body of a chunked answer, as far as `data` holds whole chunks."""
    out, at = b"", 0
    while True:
        end = data.find(b"\r\n", at)
        if end < 0:
            return out
        try:
            size = int(data[at:end].split(b";")[0], 16)
        except ValueError:
            return out
        if size == 0 or end + 2 + size > len(data):
            return out
        out += data[end + 2:end + 2 + size]
        at = end + 2 + size + 2


def request(port, method, path, body=b"", headers=(), timeout=30.0, keep=256 * KIB,
            stop_at=None):
    """One HTTP/1.1 request on a connection of its own, over a raw socket: any method, any
    header length (urllib and http.client refuse invented methods). Reads the whole answer,
    keeping its first `keep` bytes and counting the rest, or stops once `stop_at` has arrived
    (a stream). Never raises for network trouble: the Answer says what happened."""
    started = time.perf_counter()
    deadline = started + timeout
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def elapsed():
        return (time.perf_counter() - started) * 1000

    def recv(sock):
        left = deadline - time.perf_counter()
        if left <= 0:
            raise socket.timeout()
        sock.settimeout(left)
        return sock.recv(256 * KIB)

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sent_error = None
            try:
                sock.sendall(data)
            except OSError as error:
                # A server may refuse (413, 431) and close before reading all of it: its answer
                # can still be waiting in the socket.
                sent_error = error
            buffer = b""
            while b"\r\n\r\n" not in buffer and len(buffer) < HEAD_LIMIT:
                try:
                    chunk = recv(sock)
                except ConnectionResetError as error:
                    return Answer(ms=elapsed(), error=f"connection reset ({sent_error or error})")
                if not chunk:
                    break
                buffer += chunk
            if b"\r\n\r\n" not in buffer:
                why = f"closed without an answer{f' ({sent_error})' if sent_error else ''}"
                return Answer(ms=elapsed(), error=why)
            head, rest = buffer.split(b"\r\n\r\n", 1)
            head_lines = head.decode("latin-1").split("\r\n")
            status = int(head_lines[0].split(" ", 2)[1])
            answer_headers = {}
            for line in head_lines[1:]:
                name, _, value = line.partition(":")
                answer_headers[name.strip().lower()] = value.strip()
            kept, size = rest[:keep], len(rest)
            length = answer_headers.get("content-length")
            length = int(length) if length and length.isdigit() else None
            body_less = method == "HEAD" or status in (204, 304) or status < 200
            while not body_less and (length is None or size < length):
                if stop_at is not None and stop_at in kept:
                    break
                try:
                    chunk = recv(sock)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                size += len(chunk)
                if len(kept) < keep:
                    kept += chunk[:keep - len(kept)]
            if answer_headers.get("transfer-encoding", "").lower() == "chunked":
                kept = dechunk(kept)
            return Answer(status, answer_headers, kept, size, elapsed())
    except socket.timeout:
        return Answer(ms=elapsed(), error=f"nothing within {timeout:g} s")
    except (OSError, ValueError, IndexError) as error:
        return Answer(ms=elapsed(), error=str(error))


# ---------------------------------------------------------------- the hostile requests

def list_of_ones(size):
    """`[1,1,...,1]` of exactly `size` bytes (a trailing space evens it out)."""
    count = (size - 1) // 2
    text = "[" + "1," * (count - 1) + "1]"
    return (text + " " * (size - len(text))).encode()


def device(name, uid, kind="phone", price=1.0):
    return {"name": name, "uid": uid, "type": kind, "price": price}


def device_of_size(size, uid, tag):
    """One device whose name fills the body to exactly `size` bytes."""
    empty = json.dumps(device(tag, uid)).encode()
    return json.dumps(device(tag + "n" * (size - len(empty)), uid)).encode()


def max_size_devices(count, tag):
    """`count` devices with a name and a type of exactly FIELD_LIMIT characters."""
    return [device((f"{tag}-{i}-" + "n" * FIELD_LIMIT)[:FIELD_LIMIT], 10_000 + i,
                   kind="t" * FIELD_LIMIT) for i in range(count)]


def invented_method(n):
    """A METHOD_BYTES-long method of letters, a different one for every n (a metrics label
    per method would make one series each)."""
    letters, word = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", ""
    n += 1
    while n:
        n, digit = divmod(n - 1, 26)
        word = letters[digit] + word
    return (word + "X" * METHOD_BYTES)[:METHOD_BYTES]


def long_cookie(size):
    """A Cookie header value of `size` bytes that still carries the dark launch's user."""
    start = "user=developer; pad="
    return start + "c" * (size - len(start))


def long_headers(lines, each):
    """`lines` headers of `each` bytes of value: the propagated ones first (front copies them
    to the backends, the services put some in spans), then padding."""
    propagated = ["x-request-id", "traceparent", "tracestate", "b3", "x-b3-traceid",
                  "x-b3-spanid", "x-b3-sampled", "x-ot-span-context", "end-user", "user-agent"]
    names = propagated + [f"x-pad-{i}" for i in range(max(0, lines - len(propagated)))]
    return [(name, "v" * each) for name in names[:lines]]


JSON = [("Content-Type", "application/json")]


class Hostile(NamedTuple):
    """One hostile request, sent `count` times: make(i) gives (method, path, body, headers);
    target is "backend" (aleph or beth) or "front"; refusal: it is past a limit, so the server
    may close the connection instead of answering (but must still not answer 5xx); stop_at:
    a stream, read until these bytes come and then dropped."""
    label: str
    target: str
    count: int
    make: Callable
    refusal: bool = False
    stop_at: Optional[bytes] = None


def dropped_stream(backend):
    """front's live traffic view, opened, read to its first event and dropped."""
    return Hostile("GET /traffic/stream, first event, dropped", "front", 30,
                   lambda i: ("GET", f"/traffic/stream?backend={backend}", b"", []),
                   stop_at=b"\ndata:")


def hostile_catalogue(tag):
    """Every hostile request, in the order check-memory sends them. Names carry `tag`, so that
    repeated runs against one database differ."""
    ones, over = list_of_ones(BODY_LIMIT), list_of_ones(BODY_LIMIT + 1)
    form = [("Content-Type", "application/x-www-form-urlencoded")]

    def named(length, i, what):
        return (f"{tag}-{what}-{i}-" + "n" * length)[:length]

    return [
        Hostile("POST /device, [1,1,...] of exactly 1 MiB", "backend", 1,
                lambda i: ("POST", "/device", ones, JSON)),
        Hostile("POST /device, [1,1,...] of 1 MiB + 1 byte", "backend", 1,
                lambda i: ("POST", "/device", over, JSON), refusal=True),
        Hostile("POST /device, a 300-character name", "backend", 1,
                lambda i: ("POST", "/device",
                           json.dumps(device(named(300, i, "300"), 1)).encode(), JSON)),
        Hostile("POST /device, a name filling 1 MiB", "backend", 1,
                lambda i: ("POST", "/device", device_of_size(BODY_LIMIT, 2, f"{tag}-big-{i}-"),
                           JSON)),
        Hostile(f"POST /device, 50 devices, name and type of {FIELD_LIMIT}", "backend", 1,
                lambda i: ("POST", "/device",
                           json.dumps(max_size_devices(50, f"{tag}-max-{i}")).encode(), JSON)),
        Hostile("GET /device?max_results=50", "backend", 5,
                lambda i: ("GET", "/device?max_results=50", b"", [])),
        Hostile("20 KiB invented method", "backend", 30,
                lambda i: (invented_method(i), "/device", b"", [])),
        Hostile("20 KiB invented method", "front", 30,
                lambda i: (invented_method(i), "/", b"", [])),
        Hostile("GET a 60 KiB path", "backend", 10,
                lambda i: ("GET", (f"/device/{i}" + "p" * PATH_BYTES)[:PATH_BYTES], b"", [])),
        Hostile("GET a 60 KiB path", "front", 10,
                lambda i: ("GET", (f"/{i}" + "p" * PATH_BYTES)[:PATH_BYTES], b"", [])),
        Hostile("GET /headers, a 100 KiB Cookie", "backend", 3,
                lambda i: ("GET", "/headers", b"", [("Cookie", long_cookie(100 * KIB))])),
        Hostile("GET /, a 100 KiB Cookie", "front", 3,
                lambda i: ("GET", "/", b"", [("Cookie", long_cookie(100 * KIB))])),
        Hostile("GET /, 80 headers of 1200 bytes", "front", 3,
                lambda i: ("GET", "/", b"", long_headers(80, 1200))),
        Hostile("GET /headers, 80 headers of 1200 bytes", "backend", 3,
                lambda i: ("GET", "/headers", b"", long_headers(80, 1200))),
        Hostile("GET /, a Cookie past actix's 128 KiB head", "front", 1,
                lambda i: ("GET", "/", b"", [("Cookie", long_cookie(HEAD_LIMIT + KIB))]),
                refusal=True),
        Hostile(f"GET /, {HEADER_LINES_LIMIT + 4} header lines", "front", 1,
                lambda i: ("GET", "/", b"", long_headers(HEADER_LINES_LIMIT + 4, 10)),
                refusal=True),
        Hostile("POST /login, a 1 MiB form", "front", 1,
                lambda i: ("POST", "/login", b"username=" + b"u" * (MIB - 9), form),
                refusal=True),
    ]


# ---------------------------------------------------------------- processes

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid, field):
    """A /proc/PID/status figure in MiB (VmRSS, VmHWM), None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def stale_binaries(bin_dir, names):
    """Binaries older than the newest source: they measure old code (a note, not a failure)."""
    newest = 0.0
    for crate in ("shared", "backend", "front", "aleph", "beth", "Cargo.lock"):
        top = os.path.join(ROOT, crate)
        for folder, _, files in os.walk(top) if os.path.isdir(top) else [(ROOT, [], [crate])]:
            for name in files:
                if name.endswith((".rs", ".toml", ".html", ".css", ".js", ".lock")):
                    newest = max(newest, os.path.getmtime(os.path.join(folder, name)))
    return [n for n in names if os.path.getmtime(os.path.join(bin_dir, n)) < newest]


class Service:
    """A release binary on free ports of 127.0.0.1, its output in a log file of its own."""

    def __init__(self, name, bin_dir, log_dir, env):
        self.name = name
        self.port, self.metrics_port = free_port(), free_port()
        binary = os.path.join(bin_dir, name)
        if not os.access(binary, os.X_OK):
            sys.exit(f"{binary} is missing: cargo build --release -p front -p aleph -p beth")
        full_env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
        full_env.update(PORT=str(self.port), METRICS_PORT=str(self.metrics_port),
                        BIND="127.0.0.1", RUST_LOG="warn", SHUTDOWN_DELAY="0s", **env)
        self.log_path = os.path.join(log_dir, f"{name}.log")
        with open(self.log_path, "wb") as log:
            # A session of its own: Ctrl-C stops the script, which then stops the service after
            # reading its figures, rather than the service going first.
            self.proc = subprocess.Popen([binary], env=full_env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        self.pid = self.proc.pid

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if request(self.port, "GET", "/readyz", timeout=1).status == 200:
                self.rss_ready = proc_status(self.pid, "VmRSS")
                return
            time.sleep(0.05)
        self.stop()
        sys.exit(f"{self.name} did not become ready on 127.0.0.1:{self.port}; "
                 f"the end of its log:\n{self.log_tail()}")

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def metrics_size(self):
        answer = request(self.metrics_port, "GET", "/metrics", timeout=10, keep=0)
        return answer.size if answer.status == 200 else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class MongoDB:
    """`uri` if given, else MONGODB_URI (as the tests), else scripts/mongo-server on a free port,
    stopped again by close()."""

    def __init__(self, uri=None):
        self.port = None
        self.uri = uri or os.environ.get("MONGODB_URI")
        if not self.uri:
            self.port = free_port()
            out = subprocess.run([os.path.join(ROOT, "scripts", "mongo-server"), "start",
                                  "--port", str(self.port)], stdout=subprocess.PIPE, text=True)
            if out.returncode != 0 or not out.stdout.strip():
                sys.exit("scripts/mongo-server could not start a MongoDB (see above)")
            self.uri = out.stdout.strip().splitlines()[-1]

    def close(self):
        if self.port is not None:
            subprocess.run([os.path.join(ROOT, "scripts", "mongo-server"), "stop",
                            "--port", str(self.port)])
            self.port = None


def log_dir(prefix):
    return tempfile.mkdtemp(prefix=prefix)


def size_text(n):
    if n is None:
        return "-"
    if n >= MIB:
        return f"{n / MIB:.1f} MiB"
    if n >= KIB:
        return f"{n / KIB:.1f} KiB"
    return f"{n} B"
