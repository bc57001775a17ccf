"""Side-by-side benchmark of the gateway against nginx and HAProxy (issue 7), driven by scripts/bench.

One run, one machine, one load generator: the backend direct, nginx as a plain proxy, HAProxy
verifying the same RS256 token with jwt_verify, the gateway (cached token and 10,000 distinct
tokens), and FastAPI verifying with PyJWT against FastAPI behind the gateway. Every contender
that authenticates is first shown to refuse bad tokens, so the numbers compare the same job.

Each row records requests/s, p50 and p99 (wrk --latency), the CPU seconds spent by the server
processes during the measured run (utime+stime from /proc/<pid>/stat) and their peak RSS (VmHWM).
Results go to bench-results/<stamp>/ (raw wrk output, JSON, markdown) and, unless BENCH_DOC=0,
replace the results section of docs/benchmarks.md.

Only 127.0.0.1 is ever contacted; every port comes from the OS; every process started here is
stopped on exit, whatever the exit.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import http.client
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import tokens as token_material  # noqa: E402  (bench/tokens.py, beside this file)

CLK_TCK = os.sysconf("SC_CLK_TCK")
ALL_ROWS = [
    "direct", "nginx", "haproxy", "gateway",
    # Issue 19: the same with each one's access log on, and the gateway with tracing.
    "nginx-log", "haproxy-log", "gateway-log", "gateway-trace", "gateway-trace-all",
    # Issue 16: the cached-token row with the signed assertion on.
    "gateway-assertion", "gateway-assertion-reuse",
    # Issue 18: a rate-limited route, the limiter in process and on Redis (a local redis-server).
    "gateway-ratelimit", "gateway-ratelimit-redis",
    # Issue 26: the cached-token row with `[upstream]` a pool of three endpoints.
    "gateway-pool",
    "haproxy-distinct", "gateway-distinct",
    "haproxy-cold", "gateway-cold",
    "fastapi-pyjwt", "fastapi-gateway", "fastapi-plain",
]
COLD_ROWS = {"haproxy-cold", "gateway-cold"}
# Rows also measured below saturation (wrk/paced.lua) for the added-latency target.
PACED_ROWS = {"direct", "nginx", "haproxy", "gateway", "gateway-log"}
GATEWAY_ROWS = {"gateway", "gateway-distinct", "gateway-cold", "fastapi-gateway", "gateway-log",
                "gateway-trace", "gateway-trace-all", "gateway-assertion", "gateway-assertion-reuse",
                "gateway-ratelimit", "gateway-ratelimit-redis", "gateway-pool"}
# Rows compared with `gateway` round by round when BENCH_REPEAT > 1.
ASSERTION_ROWS = ("gateway-assertion", "gateway-assertion-reuse")
# What the gateway rows add to bench/gateway.toml (issue 19): the access log to a file with the
# default buffer and on_full = "drop", or traces to the backend nginx's OTLP sink.
GATEWAY_LOG_TOML = '[log]\nfile = "access.log"\n'
GATEWAY_TRACE_TOML = '[telemetry]\notlp_endpoint = "{issuer}v1/traces"\nsample_ratio = {ratio}\n'


# Issue 18: the measured route with a `rate_limit` no client reaches, so every request pays for
# the check and none is refused (the row measures the limiter, not 429s).
RATE_LIMIT = "    rate_limit: {per_second: 100000000, burst: 100000000}\n"


def rate_limited_policy() -> str:
    text = (HERE / "policy.yaml").read_text()
    marker = "  - path: /forecast\n    methods: [GET]\n    scopes: [read:forecast]\n"
    if marker not in text:
        raise RuntimeError("bench/policy.yaml has no /forecast route to rate-limit")
    return text.replace(marker, marker + RATE_LIMIT)


def redis_state_toml(env: "Env", folder: Path) -> str:
    """`[state] redis` on a redis-server started for the row (pinned with the gateway: the
    server side pays for it, as a Redis beside the gateway would)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = start("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                           "--save", "", "--appendonly", "no", "--dir", str(folder)],
                 env.run, env.s.server_cpus)
    wait_until("redis-server", lambda: redis_answers(port), 30, proc)
    env.extra_procs.append(proc)
    return f'[state]\nredis = "redis://127.0.0.1:{port}/0"\n'


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def assertion_toml(folder: Path, extra: str) -> str:
    """`[forward.assertion]` (issue 16) with a fresh Ed25519 key made in the row's folder: a
    fresh assertion per request, or `extra` (e.g. `reuse = "5s"`: identical token + method +
    path share one)."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519",
                    "-out", str(folder / "assertion-key.pem")], check=True, capture_output=True)
    return ('[forward.assertion]\nkey_file = "assertion-key.pem"\n'
            'issuer = "https://gateway.saasco.internal/"\n'
            f'audience = "saasco-backend"\n{extra}')


# --------------------------------------------------------------------------------------------
# Settings


@dataclass
class Settings:
    duration: str
    warmup: str
    threads: int
    connections: int
    workers: int
    distinct: int
    cold: int
    rows: list[str]
    soak: bool
    soak_requests: int
    profile: bool
    callgrind: bool
    pace_ms: int
    gateway_bin: Path
    write_doc: bool
    server_cpus: str | None
    client_cpus: str | None
    out: Path

    @staticmethod
    def from_env_and_args() -> "Settings":
        parser = argparse.ArgumentParser(description="Benchmark the gateway against its peers.")
        cold = int(os.environ.get("BENCH_COLD_TOKENS", "0"))
        default_rows = [r for r in ALL_ROWS if cold or r not in COLD_ROWS]
        parser.add_argument("--rows", default=os.environ.get("BENCH_ROWS", ",".join(default_rows)),
                            help="comma-separated subset of: " + ", ".join(ALL_ROWS))
        parser.add_argument("--soak", action="store_true",
                            default=os.environ.get("BENCH_SOAK", "0") == "1",
                            help="also measure the gateway's RSS over 1M requests of distinct tokens")
        parser.add_argument("--profile", action="store_true",
                            default=os.environ.get("BENCH_PROFILE", "0") == "1",
                            help="also profile the gateway with perf (cached and distinct tokens)")
        parser.add_argument("--callgrind", action="store_true",
                            default=os.environ.get("BENCH_CALLGRIND", "0") == "1",
                            help="also count the gateway's user-space instructions per request "
                                 "(valgrind callgrind, cached token)")
        parser.add_argument("--no-doc", action="store_true",
                            default=os.environ.get("BENCH_DOC", "1") == "0",
                            help="do not rewrite docs/benchmarks.md")
        args = parser.parse_args()
        rows = [r.strip() for r in args.rows.split(",") if r.strip()]
        unknown = [r for r in rows if r not in ALL_ROWS]
        if unknown:
            parser.error(f"unknown rows {unknown}; choose from {ALL_ROWS}")
        if not cold and COLD_ROWS & set(rows):
            parser.error("the cold rows need BENCH_COLD_TOKENS=N (more tokens than requests)")
        workers = int(os.environ.get("BENCH_WORKERS", "1"))
        server_cpus, client_cpus = default_pinning(workers)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        return Settings(
            duration=os.environ.get("BENCH_DURATION", "10s"),
            warmup=os.environ.get("BENCH_WARMUP", "2s"),
            threads=int(os.environ.get("BENCH_THREADS", "1")),
            connections=int(os.environ.get("BENCH_CONNECTIONS", "64")),
            workers=workers,
            distinct=int(os.environ.get("BENCH_DISTINCT", "10000")),
            cold=cold,
            rows=rows,
            soak=args.soak,
            soak_requests=int(os.environ.get("BENCH_SOAK_REQUESTS", "1000000")),
            profile=args.profile,
            callgrind=args.callgrind,
            pace_ms=int(os.environ.get("BENCH_PACE_MS", "40")),
            gateway_bin=Path(os.environ.get("BENCH_GATEWAY_BIN",
                                            ROOT / "target" / "release" / "gateway")),
            write_doc=not args.no_doc,
            server_cpus=os.environ.get("BENCH_SERVER_CPUS", server_cpus or "") or None,
            client_cpus=os.environ.get("BENCH_CLIENT_CPUS", client_cpus or "") or None,
            out=ROOT / "bench-results" / stamp,
        )


def default_pinning(workers: int) -> tuple[str | None, str | None]:
    """With one worker per server and at least two CPUs, the server under test gets CPU 0 to
    itself and the load generator plus the backend share CPU 1, in every row. Otherwise nothing
    is pinned (the doc says which applied)."""
    cpus = sorted(os.sched_getaffinity(0))
    if workers == 1 and len(cpus) >= 2 and shutil.which("taskset"):
        return str(cpus[0]), str(cpus[1])
    return None, None


# --------------------------------------------------------------------------------------------
# Processes: started in their own session, remembered, stopped at exit.

STARTED: list[subprocess.Popen] = []
PIDFILE: Path | None = None


def pinned(cmd: list[str], cpus: str | None) -> list[str]:
    return (["taskset", "-c", cpus] + cmd) if cpus else cmd


def start(name: str, cmd: list[str], run: Path, cpus: str | None, env: dict | None = None,
          cwd: Path | None = None) -> subprocess.Popen:
    log = open(run / f"{name}.log", "wb")
    proc = subprocess.Popen(pinned(cmd, cpus), stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, **(env or {})}, cwd=cwd)
    proc.bench_name = name  # type: ignore[attr-defined]
    STARTED.append(proc)
    record_pids()
    return proc


def record_pids() -> None:
    """Keeps the pidfile scripts/bench's trap reads equal to the processes still running, so
    the trap never signals a pid that has since been reused."""
    if PIDFILE:
        PIDFILE.write_text("".join(f"{p.pid}\n" for p in STARTED))


def stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(grace)
    if proc in STARTED:
        STARTED.remove(proc)
        record_pids()


def stop_all() -> None:
    for proc in list(reversed(STARTED)):
        stop(proc)


def on_signal(signum, _frame):
    raise SystemExit(f"interrupted by signal {signum}")


# --------------------------------------------------------------------------------------------
# Small helpers: ports, readiness, /proc


def free_port() -> int:
    """Asks the OS for a free loopback port (bind :0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str, headers: dict | None = None,
             timeout: float = 5.0) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def wait_until(what: str, check, deadline_s: float, proc: subprocess.Popen | None = None) -> None:
    """Polls `check()` until it is true or the deadline passes (no fixed sleeps as sync)."""
    deadline = time.monotonic() + deadline_s
    last_error = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode} (see its log)")
        try:
            if check():
                return
        except OSError as error:
            last_error = error
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not ready after {deadline_s}s ({last_error})")


def answers(port: int, path: str = "/", status: int | None = None) -> bool:
    got, _, _ = http_get(port, path, timeout=1.0)
    return status is None or got == status


def proc_tree(root: int) -> list[int]:
    """`root` and all its descendants (nginx master + workers, taskset's exec'd child)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (proc(5) fields 14, 15)
    return total / CLK_TCK


def status_kib(pids: list[int], key: str) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


# --------------------------------------------------------------------------------------------
# wrk


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_us: float
    p90_us: float
    p99_us: float
    non_2xx: int
    socket_errors: str
    client_cpu_s: float
    raw: Path


UNIT_US = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0, "m": 60_000_000.0}


def parse_duration_us(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(match.group(1)) * UNIT_US[match.group(2)]


def parse_wrk(text: str, raw: Path, client_cpu: float) -> WrkResult:
    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
        return parse_duration_us(match.group(1)) if match else math.nan

    done = re.search(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m)", text, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if not done or not rps:
        raise RuntimeError(f"wrk output not understood (see {raw})")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    return WrkResult(
        requests=int(done.group(1)),
        seconds=parse_duration_us(done.group(2) + done.group(3)) / 1e6,
        rps=float(rps.group(1)),
        p50_us=latency("50"), p90_us=latency("90"), p99_us=latency("99"),
        non_2xx=int(non2xx.group(1)) if non2xx else 0,
        socket_errors=errors.group(1) if errors else "none",
        client_cpu_s=client_cpu,
        raw=raw,
    )


def run_wrk(s: Settings, port: int, script: str, arg: Path | None, duration: str,
            raw: Path, extra: list[str] | None = None) -> WrkResult:
    cmd = ["wrk", "-t", str(s.threads), "-c", str(s.connections), "-d", duration,
           "--latency", "--timeout", "5s", "-s", str(HERE / "wrk" / script),
           f"http://127.0.0.1:{port}/forecast"]
    if arg is not None:
        cmd += ["--", str(arg)] + (extra or [])
    with raw.open("w") as out:
        out.write("$ " + " ".join(pinned(cmd, s.client_cpus)) + "\n")
        out.flush()
        proc = subprocess.Popen(pinned(cmd, s.client_cpus), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        STARTED.append(proc)
        record_pids()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        STARTED.remove(proc)
        record_pids()
    text = raw.read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {text[-400:]}")
    return parse_wrk(text, raw, usage.ru_utime + usage.ru_stime)


# --------------------------------------------------------------------------------------------
# The environment: backend + JWKS nginx, token material


@dataclass
class Env:
    s: Settings
    run: Path
    tok: Path
    issuer: str
    backend_port: int
    jwks_port: int
    # The backend nginx's two other ports: with backend_port, the gateway-pool row's endpoints.
    pool_ports: list = field(default_factory=list)
    backend: subprocess.Popen | None = None
    token: str = ""
    bad: list = field(default_factory=list)
    # Processes a row starts beside the gateway (the Redis of gateway-ratelimit-redis).
    extra_procs: list = field(default_factory=list)


def render(template: str, out: Path, values: dict) -> Path:
    text = (HERE / template).read_text()
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", str(value))
    left = re.findall(r"@@[A-Z_]+@@", text)
    if left:
        raise RuntimeError(f"{template}: unfilled placeholders {sorted(set(left))}")
    out.write_text(text)
    return out


def nginx_user_line() -> str:
    # As root nginx would switch its workers to `nobody`, who cannot read the run folder.
    return "user root root;" if os.geteuid() == 0 else ""


def start_nginx(env: Env, name: str, template: str, cpus: str | None, values: dict,
                prefix: list[str] | None = None) -> subprocess.Popen:
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (env.run / f"tmp-{name.split('-')[-1]}" / sub).mkdir(parents=True, exist_ok=True)
    conf = render(template, env.run / f"{name}.conf",
                  {"RUN": env.run, "USER": nginx_user_line(), "TOKENS": env.tok, **values})
    subprocess.run(["nginx", "-t", "-q", "-e", str(env.run / f"{name}.error.log"),
                    "-p", str(env.run), "-c", str(conf)], check=True)
    return start(name, (prefix or []) + ["nginx", "-e", str(env.run / f"{name}.error.log"),
                                         "-p", str(env.run), "-c", str(conf)], env.run, cpus)


def setup(s: Settings) -> Env:
    run = s.out
    run.mkdir(parents=True, exist_ok=True)
    jwks_port, backend_port = free_port(), free_port()
    env = Env(s=s, run=run, tok=run / "tokens", issuer=f"http://127.0.0.1:{jwks_port}/",
              backend_port=backend_port, jwks_port=jwks_port,
              pool_ports=[free_port(), free_port()])
    print(f"minting 1 + {s.distinct} + {s.cold} RS256 tokens for {env.issuer} ...", flush=True)
    token_material.make(env.tok, env.issuer, s.distinct, s.cold)
    env.token = (env.tok / "token.txt").read_text().strip()
    env.bad = json.loads((env.tok / "bad-tokens.json").read_text())
    env.backend = start_nginx(env, "nginx-backend", "nginx-backend.conf", s.client_cpus,
                              {"BACKEND_PORT": backend_port, "JWKS_PORT": jwks_port,
                               "BACKEND_PORT_2": env.pool_ports[0],
                               "BACKEND_PORT_3": env.pool_ports[1]})
    for port in [backend_port, *env.pool_ports]:
        wait_until("backend nginx", lambda: answers(port, "/forecast", 200), 10, env.backend)
    wait_until("JWKS", lambda: answers(jwks_port, "/.well-known/jwks.json", 200), 10, env.backend)
    return env


# --------------------------------------------------------------------------------------------
# Rows


@dataclass
class Row:
    key: str
    label: str
    measured: str  # which processes the CPU/RSS columns cover
    wrk: WrkResult | None = None
    paced: WrkResult | None = None
    cpu_s: float = math.nan
    hwm_kib: int = 0
    checks: list[str] = field(default_factory=list)
    note: str = ""
    error: str = ""


def median_round(runs: list[Row]) -> Row:
    """With BENCH_REPEAT=N the rows run N times, interleaved, so that a slow spell of the machine
    lands on every contender alike; each row shows its median round (all its columns from that
    one round) and the spread of req/s."""
    measured = sorted((r for r in runs if r.wrk), key=lambda r: r.wrk.rps)
    if not measured:
        return runs[-1]
    row = measured[(len(measured) - 1) // 2]
    if len(runs) > 1:
        spread = (f"median of {len(runs)} rounds (req/s {measured[0].wrk.rps:,.0f}–"
                  f"{measured[-1].wrk.rps:,.0f})")
        row.note = f"{row.note}; {spread}" if row.note else spread
    return row


def honesty_checks(env: Env, port: int, row: Row, authenticates: bool) -> None:
    """Before load: the valid token must pass; for verifiers, every bad token must be refused."""
    status, _, body = http_get(port, "/forecast", {"Authorization": f"Bearer {env.token}"})
    if status != 200:
        raise RuntimeError(f"valid token got {status}: {body[:200]!r}")
    row.checks.append("valid token: 200")
    if not authenticates:
        return
    status, _, _ = http_get(port, "/forecast")
    if status != 401:
        raise RuntimeError(f"no token got {status}, expected 401")
    row.checks.append("no token: 401")
    for bad in env.bad:
        status, _, _ = http_get(port, "/forecast", {"Authorization": f"Bearer {bad['token']}"})
        if status not in bad["expect"]:
            raise RuntimeError(f"{bad['name']}: got {status}, expected one of {bad['expect']}")
        row.checks.append(f"{bad['name']}: {status}")


def measure(env: Env, row: Row, port: int, pids_of, token_list: str | None,
            authenticates: bool, around=None) -> None:
    """Checks, warms up, then runs the measured load: one repeated token, or the requests cycle
    through `token_list` (tokens.txt or cold-tokens.txt). `around()`, if given, is called just
    before the measured run and returns a function called just after it."""
    s = env.s
    honesty_checks(env, port, row, authenticates)
    token_file = env.tok / "token.txt"
    # Warm-up with the repeated token, which is not in the distinct list: connections and
    # upstream pools are open, and the distinct row still starts with every token cold.
    run_wrk(s, port, "token.lua", token_file, s.warmup, env.run / f"{row.key}.warmup.txt")
    pids = pids_of()
    after = around() if around else None
    before = cpu_seconds(pids)
    if token_list:
        row.wrk = run_wrk(s, port, "tokens.lua", env.tok / token_list, s.duration,
                          env.run / f"{row.key}.wrk.txt")
    else:
        row.wrk = run_wrk(s, port, "token.lua", token_file, s.duration,
                          env.run / f"{row.key}.wrk.txt")
    pids = pids_of()
    if after:
        after()
    if token_list == "cold-tokens.txt" and row.wrk.requests > s.cold:
        row.error = (f"the {s.cold:,} cold tokens wrapped after {s.cold:,} of "
                     f"{row.wrk.requests:,} requests; raise BENCH_COLD_TOKENS")
    row.cpu_s = cpu_seconds(pids) - before
    row.hwm_kib = status_kib(pids, "VmHWM")
    if row.wrk.non_2xx:
        row.error = f"{row.wrk.non_2xx} non-2xx responses under load"
    if row.key in PACED_ROWS and s.pace_ms > 0:
        row.paced = run_wrk(s, port, "paced.lua", token_file, s.duration,
                            env.run / f"{row.key}.paced.wrk.txt", [str(s.pace_ms)])
        if row.paced.non_2xx:
            row.error = f"{row.paced.non_2xx} non-2xx responses under paced load"


def gateway_config(env: Env, name: str, upstream_port: int,
                   tail: str = "", policy: str | None = None,
                   endpoints: list[int] | None = None) -> tuple[Path, int, int]:
    """bench/gateway.toml for one row; with `endpoints`, `[upstream]` is a pool of those ports
    (issue 26) instead of the one `upstream_port`."""
    port, admin = free_port(), free_port()
    folder = env.run / name
    folder.mkdir(exist_ok=True)
    if policy is None:
        shutil.copy(HERE / "policy.yaml", folder / "policy.yaml")
    else:
        (folder / "policy.yaml").write_text(policy)
    conf = render("gateway.toml", folder / "gateway.toml", {
        "GATEWAY_PORT": port, "ADMIN_PORT": admin, "UPSTREAM_PORT": upstream_port,
        "WORKERS": env.s.workers, "ISSUER": env.issuer, "AUDIENCE": token_material.AUDIENCE,
    })
    if endpoints:
        url = f'url = "http://127.0.0.1:{upstream_port}"'
        listed = ", ".join(f'"http://127.0.0.1:{p}"' for p in endpoints)
        text = conf.read_text()
        if url not in text:
            raise RuntimeError(f"bench/gateway.toml has no `{url}` to turn into a pool")
        conf.write_text(text.replace(url, f"endpoints = [{listed}]"))
    if tail:
        conf.write_text(conf.read_text() + "\n" + tail)
    return conf, port, admin


def start_gateway(env: Env, name: str, upstream_port: int,
                  prefix: list[str] | None = None,
                  tail: str = "", policy: str | None = None,
                  endpoints: list[int] | None = None) -> tuple[subprocess.Popen, int, int]:
    conf, port, admin = gateway_config(env, name, upstream_port, tail, policy, endpoints)
    # Access logs off, as for nginx (access_log off) and HAProxy (no log): the comparison is the
    # proxying and the checks, not writing log lines. BENCH_GATEWAY_LOG overrides. A `[log] file`
    # in `tail` turns the access log on whatever the filter (the -log rows).
    extra = {"GATEWAY_LOG": os.environ.get("BENCH_GATEWAY_LOG", "warn")}
    if os.environ.get("BENCH_GATEWAY_PRELOAD"):
        # Experiment knob: another malloc (e.g. Debian's libmimalloc.so.2) for the gateway only;
        # Rust's default global allocator is the C library's malloc, so LD_PRELOAD replaces it.
        extra["LD_PRELOAD"] = os.environ["BENCH_GATEWAY_PRELOAD"]
    proc = start(name, (prefix or []) + [str(env.s.gateway_bin), "serve", "--config", str(conf)],
                 env.run, env.s.server_cpus, env=extra)
    wait_until(f"{name} /readyz", lambda: answers(admin, "/readyz", 200), 60, proc)
    return proc, port, admin


def cache_counters(admin: int) -> tuple[float, float]:
    _, _, body = http_get(admin, "/metrics")
    text = body.decode(errors="replace")

    def total(name: str) -> float:
        return sum(float(m) for m in re.findall(rf"^{name}(?:_total)?(?:{{[^}}]*}})? (\S+)$",
                                                 text, re.M))

    return total("gateway_token_cache_hits"), total("gateway_token_cache_misses")


def row_direct(env: Env) -> Row:
    row = Row("direct", "backend direct (nginx `return 200`)", "backend nginx")
    backend = env.backend
    measure(env, row, env.backend_port, lambda: proc_tree(backend.pid), None, False)
    row.note = "backend shares the load generator's CPU in every row"
    return row


def row_nginx(env: Env, log: bool = False) -> Row:
    key = "nginx-log" if log else "nginx"
    row = Row(key, "nginx plain proxy (no auth), access log to a file, buffer=64k" if log
              else "nginx plain proxy (no auth)", "nginx")
    port = free_port()
    access = (f"access_log {env.run}/nginx-access.log combined buffer=64k flush=1s;" if log
              else "access_log off;")
    # One name for both rows (the template's pid file and temp folders); they never overlap.
    proc = start_nginx(env, "nginx-proxy", "nginx-proxy.conf", env.s.server_cpus,
                       {"PROXY_PORT": port, "BACKEND_PORT": env.backend_port,
                        "WORKERS": env.s.workers, "ACCESS_LOG": access, "MASTER": ""})
    try:
        wait_until("nginx proxy", lambda: answers(port, "/forecast", 200), 10, proc)
        measure(env, row, port, lambda: proc_tree(proc.pid), None, False)
    finally:
        stop(proc)
    return row


TOKEN_LISTS = {"": None, "distinct": "tokens.txt", "cold": "cold-tokens.txt"}


def token_label(env: Env, kind: str) -> str:
    return {"": "same token", "distinct": f"{env.s.distinct // 1000}k distinct tokens",
            "cold": f"no token repeated ({env.s.cold // 1000}k)"}[kind]


# A UDP syslog sink for HAProxy's log (haproxy-log): counts datagrams and discards them, as a
# local rsyslog with a fast ruleset would; pinned with the load generator.
SYSLOG_SINK = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(("127.0.0.1", int(sys.argv[1])))
n = 0
while True:
    s.recv(65536)
    n += 1
    if n % 10000 == 0:
        open(sys.argv[2], "w").write(str(n))
"""


def row_haproxy(env: Env, kind: str, log: bool = False) -> Row:
    key = "haproxy-log" if log else (f"haproxy-{kind}" if kind else "haproxy")
    label = f"HAProxy jwt_verify + scope ACL, {token_label(env, kind)}"
    if log:
        label += ", httplog to a local UDP syslog sink"
    row = Row(key, label, "haproxy")
    port = free_port()
    sink = None
    log_global = log_defaults = ""
    if log:
        sink_port = free_port()
        sink = start(f"{key}-syslog", [sys.executable, "-c", SYSLOG_SINK, str(sink_port),
                                       str(env.run / f"{key}-syslog.count")],
                     env.run, env.s.client_cpus)
        log_global = f"log 127.0.0.1:{sink_port} len 2048 local0 info"
        log_defaults = "log global\n    option httplog"
    cfg = render("haproxy.cfg", env.run / f"{key}.cfg", {
        "WORKERS": env.s.workers, "HAPROXY_PORT": port, "BACKEND_PORT": env.backend_port,
        "TOKENS": env.tok, "ISSUER": env.issuer, "AUDIENCE": token_material.AUDIENCE,
        "LOG_GLOBAL": log_global, "LOG_DEFAULTS": log_defaults,
    })
    subprocess.run(["haproxy", "-c", "-q", "-f", str(cfg)], check=True)
    proc = start(key, ["haproxy", "-db", "-f", str(cfg)], env.run, env.s.server_cpus)
    try:
        wait_until("haproxy", lambda: answers(port, "/forecast", 401), 10, proc)
        measure(env, row, port, lambda: proc_tree(proc.pid), TOKEN_LISTS[kind], True)
    finally:
        stop(proc)
        if sink is not None:
            stop(sink)
    return row


def metric_total(admin: int, name: str) -> float:
    _, _, body = http_get(admin, "/metrics")
    return sum(float(m) for m in re.findall(rf"^{name}(?:_total)?(?:{{[^}}]*}})? (\S+)$",
                                             body.decode(errors="replace"), re.M))


def metric_with(admin: int, name: str, label: str) -> float:
    """The sum of `name`'s samples whose labels contain `label` (e.g. 'operation="rate_limit"')."""
    _, _, body = http_get(admin, "/metrics")
    return sum(float(m) for m in re.findall(rf"^{name}(?:_total)?{{[^}}]*{re.escape(label)}[^}}]*}} (\S+)$",
                                             body.decode(errors="replace"), re.M))


# The variants of the gateway row: (label suffix, gateway.toml tail made from the env and the
# row's folder). Issue 19: the access log and traces; issue 16: the signed assertion.
GATEWAY_VARIANTS = {
    "log": (", access log on (to a file)", lambda env, folder: GATEWAY_LOG_TOML),
    "trace": (", traces sampled at 0.01 (OTLP to a local sink)",
              lambda env, folder: GATEWAY_TRACE_TOML.format(issuer=env.issuer, ratio="0.01")),
    "trace-all": (", traces sampled at 1.0 (OTLP to a local sink)",
                  lambda env, folder: GATEWAY_TRACE_TOML.format(issuer=env.issuer, ratio="1.0")),
    "assertion": (", assertion on (Ed25519, signed per request)",
                  lambda env, folder: assertion_toml(folder, "")),
    "assertion-reuse": (", assertion on (Ed25519, reuse 5s)",
                        lambda env, folder: assertion_toml(folder, 'reuse = "5s"\n')),
    "ratelimit": (", rate-limited route, in-process state", lambda env, folder: ""),
    "ratelimit-redis": (", rate-limited route, Redis state (redis-server on this machine)",
                        redis_state_toml),
    # Issue 26: the same nginx behind three ports as one pool (least_request, the default), so
    # the difference with the gateway row is the pool's own work (choosing, counting in flight).
    "pool": (", [upstream] a pool of 3 endpoints (least_request)", lambda env, folder: ""),
}


def pool_endpoints(env: Env, variant: str) -> list[int] | None:
    """The ports of the `pool` variant's three endpoints; None for every other variant."""
    return [env.backend_port, *env.pool_ports] if variant == "pool" else None


def row_gateway(env: Env, kind: str, variant: str = "") -> Row:
    key = f"gateway-{variant}" if variant else (f"gateway-{kind}" if kind else "gateway")
    label = f"gateway, {token_label(env, kind)}"
    tail = ""
    if variant:
        suffix, make_tail = GATEWAY_VARIANTS[variant]
        label += suffix
        tail = make_tail(env, env.run / key)
    elif not kind:
        label += ", access log off"
    row = Row(key, label, "gateway")
    log_file = env.run / key / "access.log"
    log_file.unlink(missing_ok=True)  # BENCH_REPEAT: each round counts its own lines
    policy = rate_limited_policy() if variant.startswith("ratelimit") else None
    proc, port, admin = start_gateway(env, key, env.backend_port, tail=tail, policy=policy,
                                      endpoints=pool_endpoints(env, variant))
    if variant.startswith("assertion"):
        # The assertion is on: its keys are published (nginx cannot show what it received).
        status, _, _ = http_get(admin, "/.well-known/jwks.json")
        if status != 200:
            stop(proc)
            raise RuntimeError(f"assertion JWKS answered {status}; is [forward.assertion] on?")
        row.checks.append("assertion keys published: 200")
    def around():
        hits0, misses0 = cache_counters(admin)

        def after():
            hits1, misses1 = cache_counters(admin)
            lookups = (hits1 - hits0) + (misses1 - misses0)
            if lookups > 0:
                row.note = (f"verified-token cache during the measured run: "
                            f"{100 * (hits1 - hits0) / lookups:.1f}% hits, "
                            f"{misses1 - misses0:,.0f} misses (cold verifications)")
        return after

    try:
        measure(env, row, port, lambda: proc_tree(proc.pid), TOKEN_LISTS[kind], True, around)
        if variant == "log":
            # The default configuration must not lose a line under this load (issue 19).
            dropped = metric_total(admin, "gateway_access_log_dropped")
            requests = metric_total(admin, "gateway_requests")
            row.note += f"; access lines dropped: {dropped:,.0f} of {requests:,.0f} requests"
            if dropped > 0:
                row.error = f"{dropped:,.0f} access lines dropped"
        if variant.startswith("ratelimit"):
            # Every request passed the limiter and none was refused; on Redis, every one was
            # answered by Redis, none by the in-process fallback.
            limited = metric_with(admin, "gateway_requests", 'reason="rate_limited"')
            row.note += f"; refused by the limit: {limited:,.0f}"
            if limited > 0:
                row.error = f"{limited:,.0f} requests refused: the limit is meant to be unreachable"
        if variant == "ratelimit-redis":
            calls = metric_with(admin, "gateway_state_redis_duration_seconds_count",
                                'operation="rate_limit"')
            fallbacks = metric_total(admin, "gateway_state_fallback_answers")
            row.note += f"; Redis calls: {calls:,.0f}, answered without Redis: {fallbacks:,.0f}"
            if calls == 0 or fallbacks > 0:
                row.error = "the limiter did not run on Redis"
    finally:
        stop(proc)
        for extra in env.extra_procs:
            stop(extra)
        env.extra_procs.clear()
    if variant == "log":
        if log_file.exists():
            with log_file.open("rb") as f:
                lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
            row.note += f"; {lines:,} lines in the file after shutdown"
    return row


def uvicorn_cmd(app: str, port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", f"fastapi_bench:{app}", "--app-dir", str(HERE),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--no-access-log", "--log-level", "warning", "--loop", "uvloop", "--http", "httptools"]


def uvicorn_env(env: Env) -> dict:
    return {"BENCH_ISSUER": env.issuer, "BENCH_AUDIENCE": token_material.AUDIENCE,
            "BENCH_JWKS_URL": env.issuer + ".well-known/jwks.json"}


def row_uvicorn(env: Env, key: str, label: str, app: str, ready_status: int,
                authenticates: bool) -> Row:
    """One of the FastAPI apps alone under uvicorn, pinned like every server under test."""
    row = Row(key, label, "uvicorn")
    port = free_port()
    proc = start(key, uvicorn_cmd(app, port), env.run, env.s.server_cpus, env=uvicorn_env(env))
    try:
        wait_until(f"uvicorn {app}", lambda: answers(port, "/forecast", ready_status), 30, proc)
        measure(env, row, port, lambda: proc_tree(proc.pid), None, authenticates)
    finally:
        stop(proc)
    return row


def row_fastapi_pyjwt(env: Env) -> Row:
    return row_uvicorn(env, "fastapi-pyjwt", "FastAPI verifying with PyJWT (uvicorn, 1 worker)",
                       "pyjwt_app", 401, True)


def row_fastapi_gateway(env: Env) -> Row:
    row = Row("fastapi-gateway", "FastAPI without verification behind the gateway",
              "gateway + uvicorn")
    app_port = free_port()
    app = start("fastapi-gateway-app", uvicorn_cmd("plain_app", app_port), env.run, env.s.server_cpus,
                env=uvicorn_env(env))
    gateway = None
    try:
        wait_until("uvicorn plain_app", lambda: answers(app_port, "/forecast", 200), 30, app)
        gateway, port, _ = start_gateway(env, "fastapi-gateway", app_port)
        gw = gateway
        measure(env, row, port, lambda: proc_tree(gw.pid) + proc_tree(app.pid), None, True)
        row.note = "CPU and RSS are the gateway's and uvicorn's together"
    finally:
        if gateway is not None:
            stop(gateway)
        stop(app)
    return row


def row_fastapi_plain(env: Env) -> Row:
    """The same app without verification and without the gateway: what no verification at all
    costs, so the ceiling of the FastAPI ratio for any gateway sharing the app's CPU."""
    return row_uvicorn(env, "fastapi-plain",
                       "FastAPI without verification, direct (no auth: the ceiling)",
                       "plain_app", 200, False)


def soak(env: Env) -> dict:
    """The gateway's RSS over `soak_requests` requests of distinct tokens, then as much again:
    peak after the first million and whether it kept growing."""
    s = env.s
    proc, port, admin = start_gateway(env, "gateway-soak", env.backend_port)
    samples = []
    total = 0
    try:
        chunk = os.environ.get("BENCH_SOAK_CHUNK", "20s")
        for i in range(60):  # bounded: at most 20 minutes whatever the speed
            result = run_wrk(s, port, "tokens.lua", env.tok / "tokens.txt", chunk,
                             env.run / f"soak-{i:02}.wrk.txt")
            total += result.requests
            pids = proc_tree(proc.pid)
            samples.append({"requests": total, "rss_kib": status_kib(pids, "VmRSS"),
                            "hwm_kib": status_kib(pids, "VmHWM"), "rps": result.rps,
                            "non_2xx": result.non_2xx})
            print(f"  soak: {total} requests, RSS {samples[-1]['rss_kib'] / 1024:.1f} MiB",
                  flush=True)
            if total >= 2 * s.soak_requests:
                break
    finally:
        stop(proc)
    first = next((x for x in samples if x["requests"] >= s.soak_requests), samples[-1])
    return {"samples": samples, "at_target": first, "end": samples[-1]}


def profile(env: Env, distinct: bool) -> str:
    """A flat perf profile of the gateway under the same load as its row, run separately so the
    sampling does not touch the table's numbers. Returns a markdown summary."""
    s = env.s
    name = "profile-distinct" if distinct else "profile-cached"
    proc, port, _ = start_gateway(env, name, env.backend_port)
    data = env.run / f"{name}.perf.data"
    try:
        run_wrk(s, port, "token.lua", env.tok / "token.txt", s.warmup, env.run / f"{name}.warmup.txt")
        callgraph = os.environ.get("BENCH_PERF_CALLGRAPH", "0") == "1"
        perf = start(f"{name}-perf", ["perf", "record", "-F", "997", "-p", str(proc.pid),
                                       "-o", str(data)]
                     + (["--call-graph", "dwarf,16384"] if callgraph else []),
                     env.run, s.client_cpus)
        time.sleep(0.5)  # perf attaches asynchronously; a short head start, not synchronisation
        if distinct:
            result = run_wrk(s, port, "tokens.lua",
                             env.tok / ("cold-tokens.txt" if s.cold else "tokens.txt"),
                             s.duration, env.run / f"{name}.wrk.txt")
        else:
            result = run_wrk(s, port, "token.lua", env.tok / "token.txt", s.duration,
                             env.run / f"{name}.wrk.txt")
        os.kill(perf.pid, signal.SIGINT)
        perf.wait(30)
        STARTED.remove(perf)
        record_pids()
    finally:
        stop(proc)
    out = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children",
                          "--sort", "dso,sym", "--percent-limit", "0.3"],
                         capture_output=True, text=True, timeout=120)
    (env.run / f"{name}.perf.txt").write_text(out.stdout)
    if callgraph:
        # Inclusive time per function (callees included): which phase costs what.
        inclusive = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--children",
                                    "--sort", "sym", "-g", "none", "--percent-limit", "1"],
                                   capture_output=True, text=True, timeout=600)
        (env.run / f"{name}.perf-inclusive.txt").write_text(inclusive.stdout)
    entries = []
    for line in out.stdout.splitlines():
        match = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)$", line)
        if match:
            entries.append((float(match.group(1)), match.group(2), match.group(3),
                            match.group(4).strip()))

    def share(pattern: str) -> float:
        return sum(e[0] for e in entries if re.search(pattern, e[3]))

    kernel = sum(e[0] for e in entries if e[2] == "k")
    alloc = share(r"malloc|free|realloc|calloc|_int_|tcache|cfree|__rust_(alloc|dealloc|realloc)")
    copy = share(r"memcpy|memmove|memset")
    crypto = sum(e[0] for e in entries if "aws_lc" in e[3] or "aws-lc" in e[1]
                 or re.search(r"^(bn_|BN_|RSA|rsa_|EVP_|sha256|SHA256|ec_|fiat)", e[3]))
    load = ((f"{s.cold // 1000}k tokens, none repeated" if s.cold
             else f"{s.distinct // 1000}k distinct tokens") if distinct else "one cached token")
    lines = [f"**{load}** "
             f"({result.rps:,.0f} req/s under perf, {len(entries)} symbols ≥ 0.3%): "
             f"kernel {kernel:.1f}%, allocator {alloc:.1f}%, memcpy/memset {copy:.1f}%, "
             f"crypto {crypto:.1f}%. Top symbols:", "", "| % | object | symbol |", "|---:|---|---|"]
    for pct, dso, _, sym in entries[:15]:
        lines.append(f"| {pct:.1f} | {dso} | `{sym[:90]}` |")
    return "\n".join(lines) + "\n", per


CALLGRIND_VARIANTS = {"off": "access log off", "log": "access log on (to a file)",
                      "trace": "traces at 0.01", "trace-all": "traces at 1.0",
                      "assertion": "assertion signed per request",
                      "assertion-reuse": "assertion with reuse 5s",
                      "pool": "access log off, [upstream] a pool of 3 endpoints",
                      "nginx": "nginx plain proxy (no auth), access log off",
                      "nginx-log": "nginx plain proxy (no auth), access log to a file, buffer=64k",
                      "refusal": "no token: every request a 401 missing_token (a refusal, kept in "
                                 "the console's decisions ring), access log off"}

def callgrind(env: Env, variant: str = "off") -> tuple[str, float]:
    """User-space instructions per request, counted by valgrind's callgrind over a measured run
    with the cached token. Unlike req/s and CPU time, the count does not move with whatever else
    the machine is doing, so it compares two builds even on a busy machine. Kernel work (the
    syscalls) is not counted. Returns the section's text and the instructions per request.

    The `nginx` variants run nginx's plain proxy under the same harness: the same load, the
    same warm-up, counters zeroed after it and dumped after the measured run, in one process
    (`master_process off`: nginx's worker code, without the master that only supervises)."""
    s = env.s
    name = "callgrind" if variant == "off" else f"callgrind-{variant}"
    out_file = env.run / f"{name}.out"
    is_nginx = variant.startswith("nginx")
    if is_nginx:
        # One process, `master_process off`: callgrind_control cannot reach a worker nginx
        # forks (vgdb does not follow the fork), and the master does no per-request work. The
        # template's temp folders and pid file are the nginx rows' (`tmp-proxy`): they never
        # run at once.
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (env.run / "tmp-proxy" / sub).mkdir(parents=True, exist_ok=True)
        prefix = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}"]
        port = free_port()
        access = (f"access_log {env.run}/{name}-access.log combined buffer=64k flush=1s;"
                  if variant == "nginx-log" else "access_log off;")
        proc = start_nginx(env, name, "nginx-proxy.conf", s.server_cpus,
                           {"PROXY_PORT": port, "BACKEND_PORT": env.backend_port,
                            "WORKERS": s.workers, "ACCESS_LOG": access,
                            "MASTER": "master_process off;"}, prefix=prefix)
        wait_until(f"{name} /forecast", lambda: answers(port, "/forecast", 200), 60, proc)
    else:
        prefix = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}"]
        tail = GATEWAY_VARIANTS[variant][1](env, env.run / name) if variant in GATEWAY_VARIANTS else ""
        proc, port, _ = start_gateway(env, name, env.backend_port, prefix, tail=tail,
                                      endpoints=pool_endpoints(env, variant))
    # `refusal`: the same load without a token, so every request is refused (issue 27).
    token = None if variant == "refusal" else env.tok / "token.txt"
    try:
        run_wrk(s, port, "token.lua", token, s.warmup, env.run / f"{name}.warmup.txt")
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
        result = run_wrk(s, port, "token.lua", token, s.duration, env.run / f"{name}.wrk.txt")
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
    finally:
        stop(proc)
    # `callgrind_control -d` writes `<out>.1` (the measured run); `<out>` itself is what ran
    # between that dump and the exit.
    dumps = [d for d in [env.run / f"{name}.out.1"] if d.exists()]
    if not dumps:
        raise RuntimeError(f"callgrind wrote no dump for {name} in {env.run}")
    own: dict[str, int] = {}
    for dump in dumps:
        for function, cost in callgrind_self_costs(dump).items():
            own[function] = own.get(function, 0) + cost
    total = sum(own.values())
    n = max(result.requests, 1)
    per = total / n
    who = ("one process, `master_process off`" if is_nginx
           else "every thread counted, the log writer's too")
    lines = [f"**{'' if is_nginx else 'gateway, '}one cached token, "
             f"{CALLGRIND_VARIANTS.get(variant, variant)}** under callgrind "
             f"({result.requests:,} requests measured; {who}): "
             f"**{per:,.0f} user-space instructions per request**. "
             f"Top functions by their own instructions:", "",
             "| instr/req | % | function |", "|---:|---:|---|"]
    for function, cost in sorted(own.items(), key=lambda kv: -kv[1])[:15]:
        lines.append(f"| {cost / n:,.0f} | {100 * cost / max(total, 1):.1f} | "
                     f"`{function[:90]}` |")
    return "\n".join(lines) + "\n", per


def callgrind_self_costs(dump: Path) -> dict[str, int]:
    """Each function's own instruction count (callees excluded) from a callgrind dump."""
    return callgrind_costs(dump)[0]


def callgrind_costs(dump: Path) -> tuple[dict[str, int], dict[str, int]]:
    """From a callgrind dump: each function's own instruction count (callees excluded), and
    each function's inclusive count summed over the calls made to it (a function calling
    itself counts twice; the token hash's `TokenCache::key` does not)."""
    names: dict[str, str] = {}
    costs: dict[str, int] = {}
    called: dict[str, int] = {}
    function = "?"
    callee = "?"
    after_call = False

    def name(token: str) -> str:
        match = re.match(r"\((\d+)\)(?: (.*))?", token)
        if not match:
            return token
        if match.group(2):
            names[match.group(1)] = match.group(2)
        return names.get(match.group(1), token)

    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith("fn="):
            function = name(line[3:])
        elif line.startswith("cfn="):
            callee = name(line[4:])
        elif line.startswith("calls="):
            after_call = True
        elif line[:1].isdigit() or line[:1] in "+-*":
            parts = line.split()
            if after_call:
                after_call = False  # the callee's inclusive cost, not this function's own
                if len(parts) >= 2:
                    called[callee] = called.get(callee, 0) + int(parts[1])
            elif len(parts) >= 2:
                costs[function] = costs.get(function, 0) + int(parts[1])
    return costs, called


# --------------------------------------------------------------------------------------------
# Report


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def fmt_us(us: float) -> str:
    if math.isnan(us):
        return "n/a"
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def machine() -> dict:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) // (1024 * 1024)

    def version(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (out.stdout + out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "not found"

    return {
        "cpu": model, "cpus": os.cpu_count(), "mem_gib": mem, "kernel": platform.release(),
        "os": version(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "wrk": version(["sh", "-c", "wrk -v 2>&1 | head -1"]),
        "nginx": version(["nginx", "-v"]),
        "haproxy": version(["haproxy", "-v"]),
        "python": platform.python_version(),
        "rustc": version(["rustc", "--version"]),
        "gateway": version(["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"]),
    }


def ratio(a: Row | None, b: Row | None) -> float | None:
    if a and b and a.wrk and b.wrk and not a.error and not b.error and b.wrk.rps > 0:
        return a.wrk.rps / b.wrk.rps
    return None


def report(s: Settings, rows: dict[str, Row], soak_result: dict | None, started: str) -> str:
    m = machine()
    pin = (f"server under test pinned to CPU {s.server_cpus}; wrk and the backend nginx pinned "
           f"to CPU {s.client_cpus}" if s.server_cpus else "no CPU pinning")
    lines = [
        f"Run {started} on {m['cpu']} ({m['cpus']} CPUs, {m['mem_gib']} GiB), {m['os']}, "
        f"kernel {m['kernel']}.",
        f"Versions: {m['nginx']}; {m['haproxy'].split(' - ')[0]}; {m['wrk']}; Python {m['python']}; "
        f"{m['rustc']}; gateway at `{m['gateway']}`.",
        "",
        f"Load: `wrk -t{s.threads} -c{s.connections} -d{s.duration} --latency` on `GET /forecast` "
        f"after a {s.warmup} warm-up; every server with {s.workers} worker(s) "
        f"(nginx `worker_processes`, HAProxy `nbthread`, gateway `workers`, uvicorn `--workers`); "
        f"{pin}. Raw outputs: `{s.out.relative_to(ROOT)}/`.",
        "",
        "| # | row | req/s | p50 | p99 | CPU s (server) | CPU µs/req | peak RSS MiB | measured |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for i, key in enumerate(k for k in ALL_ROWS if k in rows):
        row = rows[key]
        if row.wrk is None:
            lines.append(f"| {i + 1} | {row.label} | failed: {row.error} | | | | | | |")
            continue
        w = row.wrk
        per_req = row.cpu_s / w.requests * 1e6 if w.requests else math.nan
        flag = f" ⚠ {row.error}" if row.error else ""
        lines.append(
            f"| {i + 1} | {row.label}{flag} | {w.rps:,.0f} | {fmt_us(w.p50_us)} | {fmt_us(w.p99_us)} "
            f"| {row.cpu_s:.2f} | {per_req:.1f} | {mib(row.hwm_kib)} | {row.measured} |")
    paced = [k for k in ALL_ROWS if k in rows and rows[k].paced]
    if paced:
        lines += ["", f"Below saturation (`bench/wrk/paced.lua`: each of the {s.connections} "
                  f"connections waits a random 0–{2 * s.pace_ms} ms before each request; same token; "
                  f"{s.duration}): latency without queueing.", "",
                  "| row | req/s | p50 | p90 | p99 | p99 added over direct |",
                  "|---|---:|---:|---:|---:|---:|"]
        base = rows["direct"].paced if "direct" in rows and rows["direct"].paced else None
        for key in paced:
            w = rows[key].paced
            added = f"{(w.p99_us - base.p99_us) / 1000:+.2f} ms" if base and key != "direct" else ""
            lines.append(f"| {rows[key].label} | {w.rps:,.0f} | {fmt_us(w.p50_us)} | "
                         f"{fmt_us(w.p90_us)} | {fmt_us(w.p99_us)} | {added} |")
    lines += ["", "Ratios and targets (issue 7):", "",
              "| ratio | measured | target | met |", "|---|---:|---:|---|"]

    def target(name: str, value: float | None, goal: float, higher: bool = True, unit: str = "×"):
        if value is None:
            lines.append(f"| {name} | n/a | {'≥' if higher else '≤'} {goal}{unit} | not measured |")
            return
        ok = value >= goal if higher else value <= goal
        shown = f"{value:.2f}{unit}"
        lines.append(f"| {name} | {shown} | {'≥' if higher else '≤'} {goal}{unit} | {'yes' if ok else '**no**'} |")

    g, n, h = rows.get("gateway"), rows.get("nginx"), rows.get("haproxy")
    gd, hd = rows.get("gateway-distinct"), rows.get("haproxy-distinct")
    fp, fg = rows.get("fastapi-pyjwt"), rows.get("fastapi-gateway")
    target("gateway / nginx plain proxy (cached token)", ratio(g, n), 1.0)
    for key, name in (("gateway-assertion", "signed per request"),
                      ("gateway-assertion-reuse", "reuse 5s")):
        if key in rows:
            target(f"gateway with assertion ({name}) / gateway (cached token)",
                   ratio(rows[key], g), 0.8)
    if "gateway-pool" in rows:
        # Issue 26: a pool of three endpoints costs (nearly) nothing over the single upstream.
        target("gateway with a pool of 3 endpoints / gateway single upstream (cached token)",
               ratio(rows["gateway-pool"], g), 0.97)
    target("gateway / HAProxy jwt_verify (cached token)", ratio(g, h), 2.0)
    target("gateway / HAProxy jwt_verify (distinct tokens)", ratio(gd, hd), 1.2)
    gc, hc = rows.get("gateway-cold"), rows.get("haproxy-cold")
    if gc or hc:
        target("gateway / HAProxy jwt_verify (no token repeated)", ratio(gc, hc), 1.2)
    target("FastAPI behind gateway / FastAPI + PyJWT", ratio(fg, fp), 1.6)
    # Issue 19: telemetry without a toll.
    gl, nl, hl = rows.get("gateway-log"), rows.get("nginx-log"), rows.get("haproxy-log")
    if gl or nl or hl or rows.get("gateway-trace") or rows.get("gateway-trace-all"):
        target("gateway log on (file) / gateway log off", ratio(gl, g), 0.9)
        target("gateway log on (file) / nginx log on (buffer=64k)", ratio(gl, nl), 1.0)
        if hl:
            target("gateway log on (file) / HAProxy log on (UDP syslog)", ratio(gl, hl), 1.0)
        target("gateway traced at 0.01 / gateway untraced", ratio(rows.get("gateway-trace"), g), 0.95)
        for name, value in (("nginx log on / nginx log off", ratio(nl, n)),
                            ("HAProxy log on / HAProxy log off", ratio(hl, h)),
                            ("gateway traced at 1.0 / gateway untraced",
                             ratio(rows.get("gateway-trace-all"), g))):
            if value is not None:
                lines.append(f"| {name} | {value:.2f}× | (reference) | |")
    ceiling = ratio(rows.get("fastapi-plain"), fp)
    if ceiling is not None:
        lines.append(f"| FastAPI without any verification / FastAPI + PyJWT (the ceiling for a "
                     f"gateway on the app's CPU) | {ceiling:.2f}× | (reference) | |")
    d = rows.get("direct")
    for key, name in (("nginx", "nginx"), ("haproxy", "HAProxy"), ("gateway", "gateway"),
                      ("gateway-log", "gateway with its access log on")):
        r = rows.get(key)
        paced = ((r.paced.p99_us - d.paced.p99_us) / 1000
                 if r and d and r.paced and d.paced and not r.error else None)
        full = ((r.wrk.p99_us - d.wrk.p99_us) / 1000
                if r and d and r.wrk and d.wrk and not r.error else None)
        if key in ("gateway", "gateway-log"):
            target(f"p99 added over direct, {name}, paced load (ms)", paced, 1.0, higher=False,
                   unit=" ms")
        elif paced is not None:
            lines.append(f"| p99 added over direct, {name}, paced load | {paced:.2f} ms | (reference) | |")
        if full is not None:
            lines.append(f"| p99 added over direct, {name}, at full load | {full:.2f} ms | (reference) | |")
    if soak_result:
        at, end = soak_result["at_target"], soak_result["end"]
        target(f"gateway peak RSS after {at['requests']:,} requests, distinct tokens (MiB)",
               at["hwm_kib"] / 1024, 40, higher=False, unit=" MiB")
        growth = (end["hwm_kib"] - at["hwm_kib"]) / 1024
        lines.append(f"| peak RSS growth from {at['requests']:,} to {end['requests']:,} requests "
                     f"| {growth:+.1f} MiB | flat | {'yes' if growth <= 2 else '**no**'} |")
    notes = [f"- {rows[k].label}: {rows[k].note}" for k in ALL_ROWS if k in rows and rows[k].note]
    errors = [f"- {rows[k].label}: {rows[k].error}" for k in ALL_ROWS if k in rows and rows[k].error]
    if notes:
        lines += ["", "Notes:", ""] + notes
    if errors:
        lines += ["", "Problems:", ""] + errors
    groups: dict[str, list[str]] = {}
    for k in ALL_ROWS:
        if k in rows and len(rows[k].checks) > 1:
            groups.setdefault("; ".join(rows[k].checks), []).append(rows[k].label)
    if groups:
        lines += ["", "Checked before load (status each authenticating contender returned):", ""]
        for got, labels in groups.items():
            lines.append(f"- {', '.join(labels)}: {got}")
    if soak_result:
        lines += ["", "Soak (gateway, distinct tokens): requests → RSS MiB (peak MiB): " + ", ".join(
            f"{x['requests']:,} → {mib(x['rss_kib'])} ({mib(x['hwm_kib'])})"
            for x in soak_result["samples"])]
    return "\n".join(lines) + "\n"


def write_doc(section: str, marker: str = "results") -> None:
    """Replaces the text between `<!-- bench:MARKER:begin -->` and its end marker."""
    begin, end = f"<!-- bench:{marker}:begin -->", f"<!-- bench:{marker}:end -->"
    doc = ROOT / "docs" / "benchmarks.md"
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if begin not in text or end not in text:
        text += f"\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{begin}\n{section}{end}{tail}")


# --------------------------------------------------------------------------------------------


def main() -> int:
    global PIDFILE
    s = Settings.from_env_and_args()
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    s.out.mkdir(parents=True, exist_ok=True)
    PIDFILE = Path(os.environ.get("BENCH_PIDFILE", s.out / "pids"))
    if any(r in GATEWAY_ROWS for r in s.rows) or s.soak or s.profile or s.callgrind:
        if not os.access(s.gateway_bin, os.X_OK):
            print(f"error: no gateway binary at {s.gateway_bin}; run `cargo build --release` or "
                  f"leave out the gateway rows (BENCH_ROWS=direct,nginx,haproxy,...)", file=sys.stderr)
            return 2
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    env = setup(s)
    builders = {
        "direct": lambda: row_direct(env),
        "nginx": lambda: row_nginx(env),
        "haproxy": lambda: row_haproxy(env, ""),
        "gateway": lambda: row_gateway(env, ""),
        "nginx-log": lambda: row_nginx(env, log=True),
        "haproxy-log": lambda: row_haproxy(env, "", log=True),
        "gateway-log": lambda: row_gateway(env, "", "log"),
        "gateway-trace": lambda: row_gateway(env, "", "trace"),
        "gateway-trace-all": lambda: row_gateway(env, "", "trace-all"),
        "gateway-assertion": lambda: row_gateway(env, "", "assertion"),
        "gateway-assertion-reuse": lambda: row_gateway(env, "", "assertion-reuse"),
        "gateway-ratelimit": lambda: row_gateway(env, "", "ratelimit"),
        "gateway-ratelimit-redis": lambda: row_gateway(env, "", "ratelimit-redis"),
        "gateway-pool": lambda: row_gateway(env, "", "pool"),
        "haproxy-distinct": lambda: row_haproxy(env, "distinct"),
        "gateway-distinct": lambda: row_gateway(env, "distinct"),
        "haproxy-cold": lambda: row_haproxy(env, "cold"),
        "gateway-cold": lambda: row_gateway(env, "cold"),
        "fastapi-pyjwt": lambda: row_fastapi_pyjwt(env),
        "fastapi-gateway": lambda: row_fastapi_gateway(env),
        "fastapi-plain": lambda: row_fastapi_plain(env),
    }
    rounds: dict[str, list[Row]] = {}
    repeat = max(1, int(os.environ.get("BENCH_REPEAT", "1")))
    for round_no in range(repeat):
        for key in ALL_ROWS:
            if key not in s.rows:
                continue
            print(f"row {key}{f' (round {round_no + 1}/{repeat})' if repeat > 1 else ''} ...",
                  flush=True)
            try:
                r = builders[key]()
            except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
                r = Row(key, key, "", error=str(error))
            rounds.setdefault(key, []).append(r)
            if r.wrk:
                print(f"  {r.wrk.rps:,.0f} req/s, p50 {fmt_us(r.wrk.p50_us)}, p99 {fmt_us(r.wrk.p99_us)},"
                      f" CPU {r.cpu_s:.2f}s, peak RSS {mib(r.hwm_kib)} MiB, wrk CPU {r.wrk.client_cpu_s:.2f}s"
                      f"{' ' + r.note if r.note else ''}{' ERROR ' + r.error if r.error else ''}", flush=True)
            else:
                print(f"  FAILED: {r.error}", flush=True)
    rows = {key: median_round(runs) for key, runs in rounds.items()}
    if repeat > 1 and "nginx" in rounds and "gateway" in rounds:
        pairs = [g.wrk.rps / n.wrk.rps for g, n in zip(rounds["gateway"], rounds["nginx"])
                 if g.wrk and n.wrk]
        if pairs:
            rows["gateway"].note += ("; gateway / nginx per round: "
                                     + ", ".join(f"{p:.2f}×" for p in pairs))
    for key in (*ASSERTION_ROWS, "gateway-pool"):
        if repeat > 1 and key in rounds and "gateway" in rounds:
            pairs = [a.wrk.rps / g.wrk.rps for a, g in zip(rounds[key], rounds["gateway"])
                     if a.wrk and g.wrk]
            if pairs:
                rows[key].note += ("; / gateway per round: "
                                   + ", ".join(f"{p:.2f}×" for p in pairs))
    soak_result = None
    if s.soak:
        print(f"soak: gateway with distinct tokens up to {2 * s.soak_requests:,} requests ...",
              flush=True)
        soak_result = soak(env)
    profiles = []
    if s.profile:
        for distinct in (False, True):
            print(f"profile: gateway, {'distinct tokens' if distinct else 'cached token'} ...",
                  flush=True)
            try:
                profiles.append(profile(env, distinct))
            except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                profiles.append(f"profile failed: {error}\n")
    counted = None
    if s.callgrind:
        # BENCH_CALLGRIND_VARIANTS: which gateway set-ups to count (issue 19 compares the log
        # and tracing on and off by instructions, which a busy machine does not move).
        counts = []
        per_request: dict[str, float] = {}
        for variant in os.environ.get("BENCH_CALLGRIND_VARIANTS", "off,log,nginx").split(","):
            variant = variant.strip()
            print(f"callgrind: cached token, {variant} ...", flush=True)
            try:
                text, per_request[variant] = callgrind(env, variant)
                counts.append(text)
            except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                counts.append(f"callgrind ({variant}) failed: {error}\n")
        if "off" in per_request and "nginx" in per_request:
            # Issue 30's target: the gateway's count at most 1.5 times nginx's plain proxy.
            counts.insert(0, f"**gateway / nginx plain proxy: "
                             f"{per_request['off'] / per_request['nginx']:.2f}×** "
                             f"instructions per request (access log off on both).\n")
        if "off" in per_request and "pool" in per_request:
            # Issue 26: the pool's own instructions per request, on top of the single upstream.
            counts.insert(0, f"**gateway with a pool of 3 endpoints / single upstream: "
                             f"{per_request['pool'] / per_request['off']:.3f}×** instructions "
                             f"per request ({per_request['pool'] - per_request['off']:+,.0f}).\n")
        counted = "\n".join(counts)
    section = report(s, rows, soak_result, started)
    (s.out / "results.md").write_text(section)
    (s.out / "results.json").write_text(json.dumps({
        "settings": {k: str(v) for k, v in vars(s).items()},
        "rows": {k: {"label": r.label, "rps": r.wrk.rps if r.wrk else None,
                     "p50_us": r.wrk.p50_us if r.wrk else None,
                     "p99_us": r.wrk.p99_us if r.wrk else None,
                     "requests": r.wrk.requests if r.wrk else None,
                     "client_cpu_s": r.wrk.client_cpu_s if r.wrk else None,
                     "cpu_s": r.cpu_s, "hwm_kib": r.hwm_kib, "note": r.note, "error": r.error,
                     "checks": r.checks} for k, r in rows.items()},
        "soak": soak_result,
    }, indent=1))
    print("\n" + section)
    if profiles:
        profile_text = f"perf record -F 997 on the gateway, run {started}:\n\n" + "\n".join(profiles)
        (s.out / "profile.md").write_text(profile_text)
        print(profile_text)
    if counted:
        counted_text = f"valgrind --tool=callgrind on the gateway and nginx, run {started}:\n\n" + counted
        (s.out / "callgrind.md").write_text(counted_text)
        print(counted_text)
    if s.write_doc:
        write_doc(section)
        if profiles:
            write_doc(profile_text, "profile")
        if counted:
            write_doc(counted_text, "callgrind")
        print("wrote docs/benchmarks.md")
    return 1 if any(r.error for r in rows.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
