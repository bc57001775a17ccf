"""The chaos run: processes, configuration, the paced load, the fault schedule, the history.

Everything the checker needs is written to the run folder: history.json (every request and
answer, every fault with its times, RSS samples, the rate limit), backend.log (what the backend
received), gw{1,2,3}.access.log (the replicas' access lines) and each process's own log.
"""

from __future__ import annotations

import atexit
import http.client
import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import check
import jose

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
HOST = "api.chaos.test"
PUBLIC_URL = f"http://{HOST}"
RATE = {"per_second": 2, "burst": 4}
DEADLINE = 20.0  # seconds: the longest any process gets to start, answer or stop
# The backend endpoints. One `[upstream] url` today; with upstream pools (issue 26) set this to
# 3 and UPSTREAM_TOML to `endpoints = [...]`: the fault kills one endpoint in turn and the
# checker excuses 5xx only while none is up.
ENDPOINTS = 3

POLICY = """# scripts/chaos: the policy every replica serves ({version})
permissions:
  read:forecast: Forecasts
  read:inventory: Inventory
  write:orders: Orders
routes:
  - path: /public/health
    methods: [GET]
    public: true
  - path: /tenants/{{tenant}}/forecast
    methods: [GET]
    scopes: [read:forecast]
    when:
      - claim: https://saasco/tenant
        equals: "{{tenant}}"
  - path: /tenants/{{tenant}}/inventory
    methods: [GET]
    scopes: [read:inventory]
  - path: /tenants/{{tenant}}/orders
    methods: [POST]
    scopes: [write:orders]
    when:
      - claim: https://saasco/tenant
        equals: "{{tenant}}"
  - path: /limited
    methods: [GET]
    scopes: [read:forecast]
    rate_limit: {{per_second: {per_second}, burst: {burst}}}
  - path: /dpop/forecast
    methods: [GET]
    scopes: [read:forecast]
    binding: dpop
"""
BROKEN_POLICY = "permissions:\n  read:forecast: Forecasts\nroutes:\n  - path: /tenants/{tenant\n    methods: [GET\n"

GATEWAY_TOML = """[server]
listen = "127.0.0.1:{data}"
public_url = "{public_url}"
drain_timeout = "5s"

[admin]
listen = "127.0.0.1:{admin}"

[upstream]
{upstream}
connect_timeout = "1s"
request_timeout = "5s"

[auth]
issuer = "{issuer}"
audience = "{audience}"
jwks_url = "{issuer}.well-known/jwks.json"
# The run compresses months into seconds: a rotation comes seconds after the last one, so the
# unknown-kid refetch may not wait the default 30 s.
jwks_cooldown = "1s"
dpop_nonce = true
dpop_window = "30s"

[policy]
file = "{policy}"

[log]
file = "{access}"
format = "json"

[state]
redis = "redis://127.0.0.1:{redis}/0"
on_error = "local"
timeout = "50ms"
"""

HAPROXY_CFG = """global
    maxconn 2000
    log stdout format raw local0
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    retries 3
    option redispatch
frontend gateways_in
    bind 127.0.0.1:{port}
    default_backend gateways
backend gateways
    balance leastconn
    option httpchk GET /readyz
    http-check expect status 200
{servers}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def now() -> float:
    return time.monotonic()


class Procs:
    """Every process this run started, stopped on exit whatever the exit."""

    def __init__(self, run: Path) -> None:
        self.run = run
        self.live: dict[str, subprocess.Popen] = {}
        atexit.register(self.stop_all)

    def start(self, name: str, cmd: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.run / f"{name}.log", "ab")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=self.run,
                                env={**os.environ, **(env or {})})
        self.live[name] = proc
        return proc

    def signal(self, name: str, sig: int) -> subprocess.Popen:
        proc = self.live[name]
        proc.send_signal(sig)
        return proc

    def wait_exit(self, name: str, deadline_s: float) -> None:
        proc = self.live.pop(name)
        try:
            proc.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
            raise RuntimeError(f"{name} did not exit within {deadline_s:.0f} s of its signal; "
                               f"see {self.run / (name + '.log')}")

    def stop_all(self) -> None:
        for name, proc in list(self.live.items()):
            if proc.poll() is None:
                proc.terminate()
        for name, proc in list(self.live.items()):
            try:
                proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.live.clear()


def wait_until(what: str, probe, deadline_s: float = DEADLINE, proc: subprocess.Popen | None = None,
               log: Path | None = None) -> None:
    end = now() + deadline_s
    while now() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {proc.returncode}; see {log}")
        try:
            if probe():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not ready within {deadline_s:.0f} s; see {log}")


def http_status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def redis_pong(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")


def gateway_binary() -> Path:
    for profile in ("release", "debug"):
        path = ROOT / "target" / profile / "gateway"
        if path.exists():
            return path
    raise RuntimeError("no target/release/gateway or target/debug/gateway: run `cargo build` first")


class Layout:
    def __init__(self, run: Path) -> None:
        self.run = run
        self.procs = Procs(run)
        self.binary = gateway_binary()
        self.issuer = jose.Issuer()
        self.backends = {f"be{i}": free_port() for i in range(1, ENDPOINTS + 1)}
        self.redis_port = free_port()
        self.lb_port = free_port()
        self.gateways = {f"gw{i}": (free_port(), free_port()) for i in (1, 2, 3)}
        self.policy = run / "policy.yaml"
        self.policy_version = 0
        self.write_policy()
        self.rss: list[dict] = []
        self.lock = threading.Lock()

    def write_policy(self, text: str | None = None) -> None:
        if text is None:
            self.policy_version += 1
            text = POLICY.format(version=f"version {self.policy_version}", **RATE)
        tmp = self.policy.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.policy)

    def start_backend(self, name: str) -> None:
        """Every endpoint appends to the one backend.log (O_APPEND, one write per line)."""
        port = self.backends[name]
        proc = self.procs.start(name, [sys.executable, str(HERE / "backend.py"), str(port),
                                       str(self.run / "backend.log")])
        wait_until(f"backend {name}", lambda: http_status(port, "/ready") == 200, proc=proc,
                   log=self.run / f"{name}.log")

    def upstream_toml(self) -> str:
        urls = [f"http://127.0.0.1:{port}" for port in self.backends.values()]
        if len(urls) == 1:
            return f'url = "{urls[0]}"'
        return "endpoints = [" + ", ".join(f'"{u}"' for u in urls) + "]"

    def start_redis(self) -> None:
        proc = self.procs.start("redis", ["redis-server", "--port", str(self.redis_port),
                                          "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                          "--maxmemory-policy", "noeviction"])
        wait_until("redis-server", lambda: redis_pong(self.redis_port), proc=proc,
                   log=self.run / "redis.log")

    def start_gateway(self, name: str) -> None:
        data, admin = self.gateways[name]
        config = self.run / f"{name}.toml"
        config.write_text(GATEWAY_TOML.format(
            data=data, admin=admin, public_url=PUBLIC_URL, upstream=self.upstream_toml(),
            issuer=self.issuer.url, audience=jose.AUDIENCE, policy=self.policy,
            access=self.run / f"{name}.access.log", redis=self.redis_port))
        proc = self.procs.start(name, [str(self.binary), "serve", "--config", str(config)])
        wait_until(f"{name} /readyz", lambda: http_status(admin, "/readyz") == 200, proc=proc,
                   log=self.run / f"{name}.log")

    def start_haproxy(self) -> None:
        servers = "\n".join(
            f"    server {name} 127.0.0.1:{data} check port {admin} inter 250ms fall 1 rise 1"
            for name, (data, admin) in self.gateways.items())
        cfg = self.run / "haproxy.cfg"
        cfg.write_text(HAPROXY_CFG.format(port=self.lb_port, servers=servers))
        subprocess.run(["haproxy", "-c", "-q", "-f", str(cfg)], check=True, timeout=DEADLINE)
        proc = self.procs.start("haproxy", ["haproxy", "-db", "-f", str(cfg)])
        wait_until("HAProxy", lambda: http_status(self.lb_port, "/public/health") == 200,
                   proc=proc, log=self.run / "haproxy.log")

    def start(self) -> None:
        for name in self.backends:
            self.start_backend(name)
        self.start_redis()
        for name in self.gateways:
            self.start_gateway(name)
        self.start_haproxy()

    def sample_rss(self, t0: float) -> None:
        for name in self.gateways:
            proc = self.procs.live.get(name)
            if proc is None or proc.poll() is not None:
                continue
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    self.rss.append({"t": now() - t0, "gateway": name, "pid": proc.pid,
                                     "rss_kib": int(line.split()[1])})


class Load:
    """The paced mixed load: one request kind after another at `rate` per second, each request
    on a fresh connection through HAProxy, every request and answer recorded."""

    KINDS = ["allowed", "missing_scope", "allowed_post", "other_tenant", "dpop", "forged",
             "limited", "public", "allowed", "limited", "dpop"]

    def __init__(self, layout: Layout, t0: float, rate: float) -> None:
        self.layout = layout
        self.t0 = t0
        self.rate = rate
        self.history: list[dict] = []
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.tokens: dict[tuple, str] = {}
        self.dpop_key = jose.DpopKey()
        self.nonce: str | None = None
        self.stop = threading.Event()

    def token(self, kind: str) -> str:
        issuer = self.layout.issuer
        kid = issuer.keys[-1][0]
        key = (kind, kid)
        if key not in self.tokens:
            if kind == "forged":
                self.tokens[key] = issuer.forged("chaos-app", "read:forecast", "acme")
            elif kind == "limited":
                self.tokens[key] = issuer.token("chaos-limited", "read:forecast", "acme")
            elif kind == "dpop":
                self.tokens[key] = issuer.token("chaos-dpop", "read:forecast", "acme",
                                                cnf={"jkt": self.dpop_key.jkt})
            else:
                self.tokens[key] = issuer.token("chaos-app", "read:forecast write:orders", "acme")
        return self.tokens[key]

    def send(self, kind: str, expect: str, method: str, path: str, headers: dict,
             body: bytes | None = None, **extra) -> dict:
        rid = f"chaos-{next(self.ids)}"
        rec = {"rid": rid, "kind": kind, "expect": expect, "method": method, "path": path,
               "t0": now() - self.t0, **extra}
        conn = http.client.HTTPConnection("127.0.0.1", self.layout.lb_port, timeout=8)
        try:
            conn.request(method, path, body=body,
                         headers={"host": HOST, "x-request-id": rid, "connection": "close",
                                  **headers})
            resp = conn.getresponse()
            resp.read()
            rec["status"] = resp.status
            rec["nonce"] = resp.headers.get("dpop-nonce")
            rec["challenge"] = resp.headers.get("www-authenticate")
        except (OSError, http.client.HTTPException) as err:
            rec["status"] = None
            rec["error"] = f"{type(err).__name__}: {err}"
        finally:
            conn.close()
        rec["t1"] = now() - self.t0
        with self.lock:
            self.history.append(rec)
        return rec

    def bearer(self, kind: str) -> dict:
        return {"authorization": f"Bearer {self.token(kind)}"}

    def one(self, kind: str) -> None:
        if kind == "allowed":
            self.send(kind, "allow", "GET", "/tenants/acme/forecast", self.bearer(kind))
        elif kind == "allowed_post":
            self.send(kind, "allow", "POST", "/tenants/acme/orders",
                      {**self.bearer(kind), "content-type": "application/json"}, b'{"sku":1}')
        elif kind == "missing_scope":
            self.send(kind, "refuse", "GET", "/tenants/acme/inventory", self.bearer("allowed"))
        elif kind == "other_tenant":
            self.send(kind, "refuse", "GET", "/tenants/globex/forecast", self.bearer("allowed"))
        elif kind == "forged":
            self.send(kind, "refuse", "GET", "/tenants/acme/forecast", self.bearer(kind))
        elif kind == "limited":
            self.send(kind, "limited", "GET", "/limited", self.bearer(kind))
        elif kind == "public":
            self.send(kind, "allow", "GET", "/public/health", {})
        elif kind == "dpop":
            self.dpop()

    def dpop(self) -> None:
        """A proof with the last nonce seen; on use_dpop_nonce one retry with the new nonce
        (that answer counts as allowed); an accepted proof is then replayed once."""
        token = self.token("dpop")
        htu = PUBLIC_URL + "/dpop/forecast"
        for attempt in (1, 2):
            proof, jti = self.dpop_key.proof("GET", htu, token, self.nonce)
            rec = self.send("dpop", "allow" if attempt == 2 else "dpop", "GET", "/dpop/forecast",
                            {"authorization": f"DPoP {token}", "dpop": proof}, jti=jti)
            if rec.get("nonce"):
                self.nonce = rec["nonce"]
            if rec.get("status") == 200:
                self.send("dpop_replay", "refuse", "GET", "/dpop/forecast",
                          {"authorization": f"DPoP {token}", "dpop": proof}, jti=jti)
                return
            if rec.get("status") != 401 or "use_dpop_nonce" not in (rec.get("challenge") or ""):
                return

    def run(self, seconds: float) -> None:
        kinds = itertools.cycle(self.KINDS)
        with ThreadPoolExecutor(max_workers=16) as pool:
            start = now()
            n = 0
            while now() - start < seconds:
                pool.submit(self.one, next(kinds))
                n += 1
                pause = start + n / self.rate - now()
                if pause > 0:
                    time.sleep(pause)


class Schedule:
    """The faults, one after another, each several times; each recovered before the next."""

    KINDS = ["backend_kill", "redis_restart", "reload_valid", "gateway_kill", "reload_invalid",
             "gateway_drain", "jwks_fail", "key_rotation"]

    def __init__(self, layout: Layout, t0: float, seconds: float) -> None:
        self.layout = layout
        self.t0 = t0
        self.reps = max(2, int(seconds // 40))
        self.slot = seconds / (len(self.KINDS) * self.reps)
        self.faults: list[dict] = []
        self.error: str | None = None

    def t(self) -> float:
        return now() - self.t0

    def gateways_alive(self) -> list[str]:
        return [n for n in self.layout.gateways if n in self.layout.procs.live]

    def inject(self, kind: str, rep: int) -> dict:
        lay = self.layout
        hold = max(0.5, self.slot * 0.4)
        fault = {"fault": kind, "rep": rep, "start": self.t()}
        names = list(lay.gateways)
        if kind == "backend_kill":
            name = list(lay.backends)[rep % len(lay.backends)]
            fault["target"] = name
            lay.procs.signal(name, signal.SIGKILL)
            lay.procs.wait_exit(name, DEADLINE)
            fault["killed"] = [self.t()]
            fault["endpoints_left"] = len([b for b in lay.backends if b in lay.procs.live])
            time.sleep(hold)
            lay.start_backend(name)
        elif kind == "redis_restart":
            lay.procs.signal("redis", signal.SIGKILL)
            lay.procs.wait_exit("redis", DEADLINE)
            time.sleep(hold)
            lay.start_redis()
        elif kind in ("reload_valid", "reload_invalid"):
            if kind == "reload_valid":
                lay.write_policy()
            else:
                lay.write_policy(BROKEN_POLICY)
            for name in self.gateways_alive():
                lay.procs.signal(name, signal.SIGHUP)
            time.sleep(hold)
            if kind == "reload_invalid":
                lay.write_policy()
                for name in self.gateways_alive():
                    lay.procs.signal(name, signal.SIGHUP)
        elif kind == "gateway_kill":
            name = names[rep % 3]
            fault["target"] = name
            lay.procs.signal(name, signal.SIGKILL)
            lay.procs.wait_exit(name, DEADLINE)
            fault["killed"] = [self.t()]
            time.sleep(hold)
            lay.start_gateway(name)
        elif kind == "gateway_drain":
            name = names[(rep + 1) % 3]
            fault["target"] = name
            lay.procs.signal(name, signal.SIGTERM)
            lay.procs.wait_exit(name, DEADLINE)
            time.sleep(hold)
            lay.start_gateway(name)
        elif kind == "jwks_fail":
            lay.issuer.failing = True
            time.sleep(hold)
            lay.issuer.failing = False
        elif kind == "key_rotation":
            fault["kid"] = lay.issuer.rotate()
            time.sleep(hold)
        fault["end"] = self.t()
        return fault

    def run(self) -> None:
        try:
            for rep in range(self.reps):
                for i, kind in enumerate(self.KINDS):
                    begin = self.t0 + (rep * len(self.KINDS) + i) * self.slot
                    pause = begin + self.slot * 0.3 - now()
                    if pause > 0:
                        time.sleep(pause)
                    self.faults.append(self.inject(kind, rep))
        except Exception as err:  # noqa: BLE001  (reported as a finding, the run goes on)
            self.error = f"the fault schedule stopped: {err}"


def main(argv: list[str]) -> int:
    if argv[:1] == ["backend"]:
        import backend
        return backend.main(argv[1:])
    if argv[:1] == ["check"]:
        return check.main(argv[1:])
    if argv[:1] == ["selftest"]:
        import selftest
        return selftest.main(argv[1:])
    seconds = float(os.environ.get("CHAOS_SECONDS", "30"))
    rate = float(os.environ.get("CHAOS_RATE", "40"))
    for tool in ("haproxy", "redis-server"):
        if shutil.which(tool) is None:
            print(f"chaos: {tool} is missing: apt-get install -y {tool.split('-')[0]}"
                  f"{'-server' if tool == 'redis-server' else ''}", file=sys.stderr)
            return 2
    out = os.environ.get("CHAOS_OUT")
    run = Path(out) if out else Path(tempfile.mkdtemp(prefix="gateway-chaos-"))
    run.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"chaos: {seconds:.0f} s at {rate:.0f} requests/s; run folder {run}", flush=True)
    layout = Layout(run)
    layout.start()
    t0, wall0 = now(), time.time()  # wall0: to place the gateways' own log lines in the run
    load = Load(layout, t0, rate)
    schedule = Schedule(layout, t0, seconds)
    faults = threading.Thread(target=schedule.run, daemon=True)
    sampler_stop = threading.Event()

    def sampler() -> None:
        while not sampler_stop.wait(0.5):
            layout.sample_rss(t0)

    threading.Thread(target=sampler, daemon=True).start()
    faults.start()
    load.run(seconds)
    faults.join(timeout=DEADLINE * 3)
    sampler_stop.set()
    if faults.is_alive():
        schedule.error = "the fault schedule did not finish within its deadline"
    elapsed = now() - t0
    # SIGTERM everything: the gateways write out their queued access lines as they drain.
    layout.procs.stop_all()
    layout.issuer.close()
    history = {"seconds": elapsed, "wall0": wall0, "rate_limit": RATE, "replicas": len(layout.gateways),
               "requests": sorted(load.history, key=lambda r: r["t0"]),
               "faults": schedule.faults, "schedule_error": schedule.error, "rss": layout.rss}
    (run / "history.json").write_text(json.dumps(history, indent=1))
    status = check.main([str(run)])
    if status != 0:
        return status
    # The checker can fail: each of the failures, written into copies of this history.
    import selftest
    status = selftest.main([str(run)])
    if status == 0 and not out:
        shutil.rmtree(run, ignore_errors=True)  # passed: nothing to look at (CHAOS_OUT keeps it)
        print(f"chaos: removed {run} (set CHAOS_OUT to keep a run's folder)")
    return status
