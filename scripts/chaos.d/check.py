"""The chaos run's checker: reads a run folder (history.json, backend.log, gw*.access.log),
prints the fault table and every finding with what to look at, and returns 1 on any finding.

It judges only what the run recorded, so it can be run again on a saved (or doctored) folder:
`scripts/chaos check RUN_DIR`.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import sys
from pathlib import Path

REFUSAL_OF_ALLOWED = {401, 403, 404, 405}
KILL_MARGIN = 0.2       # seconds around a kill -9 that count as "in flight on the killed process"
LOG_LOSS_WINDOW = 1.5   # a kill -9ed replica may lose the lines of its last second (+ scheduling)
RSS_SLACK_KIB = 32 * 1024


def request_ids_in(path: Path) -> dict[str, str]:
    """request_id -> the access line's reason, for every JSON access line of `path`."""
    ids: dict[str, str] = {}
    if not path.exists():
        return ids
    for line in path.read_text(errors="replace").splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        stack = [obj]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                if isinstance(item.get("request_id"), str):
                    ids[item["request_id"]] = str(item.get("reason", "-"))
                stack.extend(v for v in item.values() if isinstance(v, dict))
    return ids


def fallback_windows(path: Path, wall0: float | None, end: float) -> list[tuple[float, float]]:
    """When one replica answered from its own state (on_error = "local"), from its log: from
    "Redis unavailable" (Redis down, or slower than `[state] timeout` on a busy machine) to
    "Redis recovered" or the process's next start."""
    if wall0 is None or not path.exists():
        return []
    windows, since = [], None
    for line in path.read_text(errors="replace").splitlines():
        try:
            obj = json.loads(line)
            at = dt.datetime.fromisoformat(obj["timestamp"].replace("Z", "+00:00")).timestamp()
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        message = str(obj.get("message", ""))
        if "Redis unavailable" in message and since is None:
            since = at - wall0
        elif since is not None and ("Redis recovered" in message
                                    or "shared state on Redis" in message):
            windows.append((since, at - wall0))
            since = None
    if since is not None:
        windows.append((since, end))
    return windows


def outcomes(requests: list[dict]) -> str:
    counts = collections.Counter(str(r["status"]) if r["status"] is not None else "err"
                                 for r in requests)
    return " ".join(f"{k}x{v}" for k, v in sorted(counts.items()))


class Checker:
    def __init__(self, run: Path) -> None:
        self.run = run
        self.h = json.loads((run / "history.json").read_text())
        self.requests: list[dict] = self.h["requests"]
        self.faults: list[dict] = self.h["faults"]
        self.findings: list[str] = []
        self.notes: list[str] = []
        self.kills = [t for f in self.faults for t in f.get("killed", [])]
        self.gateway_kills = [t for f in self.faults if f["fault"] == "gateway_kill"
                              for t in f.get("killed", [])]
        # With a pool, one endpoint killed leaves the others: no excuse then.
        self.backend_down = [(f["start"], f["end"]) for f in self.faults
                             if f["fault"] == "backend_kill" and f.get("endpoints_left", 0) == 0]
        self.redis_down = [(f["start"], f["end"]) for f in self.faults
                           if f["fault"] == "redis_restart"]

    def find(self, rule: str, rec: dict | None, why: str) -> None:
        where = ""
        if rec is not None:
            where = (f" [{rec['rid']} {rec['kind']} {rec['method']} {rec['path']} "
                     f"t={rec['t0']:.2f}-{rec['t1']:.2f}s status={rec['status']}"
                     f"{' ' + rec['error'] if rec.get('error') else ''}]")
        self.findings.append(f"{rule}: {why}{where}")

    @staticmethod
    def overlaps(rec: dict, windows: list[tuple[float, float]], margin: float) -> bool:
        return any(rec["t0"] <= end + margin and rec["t1"] >= start - margin
                   for start, end in windows)

    def in_flight_at_kill(self, rec: dict) -> bool:
        return any(rec["t0"] <= t + KILL_MARGIN and rec["t1"] >= t - KILL_MARGIN
                   for t in self.kills)

    def excused_replay(self, rec: dict) -> bool:
        """A replay let through within docs/security.md's bound: judged by check_dpop."""
        return rec["rid"] in self.excused_replays

    def check_backend(self) -> None:
        received = collections.Counter()
        log = self.run / "backend.log"
        for line in log.read_text().splitlines() if log.exists() else []:
            received[line.split(" ", 1)[0]] += 1
        for rec in self.requests:
            got = received.get(rec["rid"], 0)
            refused = rec["expect"] == "refuse" or (rec["status"] is not None
                                                    and 400 <= rec["status"] < 500)
            if got and refused and not self.excused_replay(rec):
                self.find("refused request reached the backend", rec,
                          f"backend.log has it {got} time(s)")
            if got > 1 and rec["method"] != "GET":
                self.find("non-idempotent request sent twice", rec, f"backend.log: {got} times")
            if (rec["expect"] == "refuse" and rec["status"] is not None and rec["status"] < 400
                    and not self.excused_replay(rec)):
                self.find("refused request answered as allowed", rec, "expected a 4xx")

    def load_access_logs(self) -> None:
        self.replica_of: dict[str, str] = {}
        self.reason_of: dict[str, str] = {}
        self.fallback: dict[str, list[tuple[float, float]]] = {}
        for path in sorted(self.run.glob("gw*.access.log")):
            for rid, reason in request_ids_in(path).items():
                self.replica_of[rid] = path.name.split(".")[0]
                self.reason_of[rid] = reason
            name = path.name.split(".")[0]
            self.fallback[name] = fallback_windows(self.run / f"{name}.log", self.h.get("wall0"),
                                                   self.h["seconds"])

    def check_answers(self) -> None:
        self.excused_5xx = 0
        self.excused_nonce = 0
        for rec in self.requests:
            status = rec["status"]
            if rec["expect"] in ("allow", "limited") and status in REFUSAL_OF_ALLOWED:
                if (rec["kind"] == "dpop" and status == 401
                        and "use_dpop_nonce" in (rec.get("challenge") or "")
                        and self.overlaps(rec, self.redis_down, 1.0)):
                    self.excused_nonce += 1  # a nonce minted while Redis was down: the fault
                    continue
                self.find("allowed request refused", rec,
                          f"reason {self.reason_of.get(rec['rid'], '(no access line)')} at "
                          f"{self.replica_of.get(rec['rid'], '?')}.access.log")
            idempotent = rec["method"] in ("GET", "HEAD")
            if idempotent and (status is None or status >= 500):
                if self.overlaps(rec, self.backend_down, 0.3) or self.in_flight_at_kill(rec):
                    self.excused_5xx += 1
                    continue
                self.find("idempotent request failed while a replica and the backend were up",
                          rec, "see haproxy.log and gw*.log at that time")

    def check_rate_limit(self) -> None:
        rate = self.h["rate_limit"]
        per_s, burst = rate["per_second"], rate["burst"]
        replicas = self.h["replicas"]
        limited = [r for r in self.requests if r["kind"] == "limited"]
        passed = sum(1 for r in limited if r["status"] is not None and r["status"] < 300)
        if limited:
            span = max(r["t1"] for r in limited) - min(r["t0"] for r in limited)
        else:
            span = 0.0
        # Redis down: each replica answers from its own bucket (on_error = "local"); Redis back:
        # its buckets start full again (nothing persisted), one more burst.
        local = sum(replicas * (burst + per_s * (end - start + 1.0)) + burst
                    for start, end in self.redis_down)
        # A replica whose own log says it answered without Redis at other times (Redis slower
        # than `[state] timeout` on a busy machine): its own bucket for that long.
        slow = [(a, b) for windows in self.fallback.values() for a, b in windows
                if not any(a <= end + 1.0 and b >= start - 1.0 for start, end in self.redis_down)]
        local += sum(burst + per_s * (b - a) for a, b in slow)
        bound = burst + per_s * span + local
        self.notes.append(
            f"rate limit: {passed} of {len(limited)} let through in {span:.1f} s; bound "
            f"{bound:.0f} = burst {burst} + {per_s}/s x {span:.1f} s + {local:.0f} while Redis "
            f"was down ({len(self.redis_down)} restarts x {replicas} replicas on their own bucket, "
            f"{len(slow)} more fallbacks of one replica)")
        if passed > bound:
            self.find("rate limit exceeded", None,
                      f"{passed} let through, bound {bound:.0f}; see the `limited` lines of "
                      "history.json")

    def check_dpop(self) -> None:
        """docs/security.md's bound: a proof is never accepted twice by one replica; a second
        replica may accept it once only while Redis is down (on_error = "local") or after a Redis
        restart forgot it."""
        accepted = collections.defaultdict(list)
        self.excused_replays: set[str] = set()
        for rec in self.requests:
            if rec.get("jti") and rec["status"] is not None and rec["status"] < 300:
                accepted[rec["jti"]].append(rec)
        excused = 0
        for jti, recs in accepted.items():
            if len(recs) < 2:
                continue
            replicas = [self.replica_of.get(r["rid"], "?") for r in recs]
            if len(set(replicas)) < len(replicas):
                self.find("DPoP proof accepted twice by one replica", recs[1],
                          f"jti {jti} at {replicas}, first {recs[0]['rid']}")
                continue
            first = recs[0]
            for again in recs[1:]:
                # The second replica answered without Redis, or the first did (then the proof
                # was remembered at that replica only, never in Redis).
                at = self.replica_of.get(again["rid"], "?")
                was = self.replica_of.get(first["rid"], "?")
                outage = (self.overlaps(again, self.redis_down, 1.0)
                          or self.overlaps(again, self.fallback.get(at, []), 0.2)
                          or self.overlaps(first, self.fallback.get(was, []), 0.2))
                restart = any(first["t1"] <= start <= again["t0"] for start, _ in self.redis_down)
                if outage or restart:
                    excused += 1
                    self.excused_replays.add(again["rid"])
                else:
                    self.find("DPoP proof accepted twice", again,
                              f"jti {jti} at {replicas} with Redis up; first {first['rid']}")
        replays = [r for r in self.requests if r["kind"] == "dpop_replay"]
        self.notes.append(
            f"DPoP: {len(accepted)} proofs accepted, {len(replays)} replayed, "
            f"{sum(1 for r in replays if r['status'] == 401)} replays refused 401, {excused} "
            "accepted once more by another replica while Redis was down or had just restarted, or "
            "while either replica's own log says it answered without Redis "
            "(the bound of docs/security.md: once per replica)")

    def check_access_log(self) -> None:
        logged = self.replica_of
        lost = 0
        for rec in self.requests:
            if rec["status"] is None or rec["rid"] in logged:
                continue
            if any(t - LOG_LOSS_WINDOW <= rec["t1"] <= t + KILL_MARGIN for t in self.gateway_kills):
                lost += 1
                continue
            self.find("access line missing", rec, "no gw*.access.log has its request_id")
        answered = sum(1 for r in self.requests if r["status"] is not None)
        self.lost_lines = lost
        self.notes.append(f"access log: {answered} answered requests, {answered - lost} lines "
                          f"found, {lost} lost in the last second of a kill -9ed replica")

    def check_rss(self) -> None:
        series = collections.defaultdict(list)
        for s in self.h["rss"]:
            series[(s["gateway"], s["pid"])].append(s["rss_kib"])
        for (name, pid), values in sorted(series.items()):
            if len(values) < 8:
                continue
            early = max(values[: len(values) // 2])
            last = values[-1]
            self.notes.append(f"RSS {name} pid {pid}: {values[0] // 1024} -> {last // 1024} MiB "
                              f"({len(values)} samples, max {max(values) // 1024} MiB)")
            # Warm-up (caches, pools) is over by the middle of a process's life; what it gains
            # after that beyond the slack is growth.
            if last > early + max(RSS_SLACK_KIB, early // 4):
                self.find("RSS growing", None, f"{name} pid {pid}: first half at most "
                          f"{early // 1024} MiB, last {last // 1024} MiB; see {name}.log")

    def table(self) -> str:
        rows = ["| fault | times (s into the run) | requests during it | outcomes |",
                "|---|---|---|---|"]
        by_kind = collections.defaultdict(list)
        for f in self.faults:
            by_kind[f["fault"]].append(f)
        for kind, faults in by_kind.items():
            during = [r for r in self.requests
                      if any(f["start"] <= r["t0"] <= f["end"] + 0.5 for f in faults)]
            when = ", ".join(f"{f['start']:.1f}-{f['end']:.1f}" for f in faults[:4])
            if len(faults) > 4:
                when += f", ... ({len(faults)} in all)"
            rows.append(f"| {kind} | {when} | {len(during)} | {outcomes(during)} |")
        rows.append(f"| (whole run, {self.h['seconds']:.0f} s) | | {len(self.requests)} | "
                    f"{outcomes(self.requests)} |")
        return "\n".join(rows)

    def main(self) -> int:
        if self.h.get("schedule_error"):
            self.find("schedule", None, self.h["schedule_error"])
        self.load_access_logs()
        self.check_dpop()
        self.check_backend()
        self.check_answers()
        self.check_rate_limit()
        self.check_access_log()
        self.check_rss()
        print(self.table())
        kinds = collections.Counter(r["kind"] for r in self.requests)
        print("requests by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
        for note in self.notes:
            print(note)
        print(f"excused: {self.excused_5xx} failures in flight on a killed process or while the "
              f"backend was down, {self.excused_nonce} DPoP nonces refused after Redis restarts")
        if self.findings:
            print(f"\nchaos: FAILED, {len(self.findings)} finding(s); the run folder is {self.run}")
            for f in self.findings[:40]:
                print("  " + f)
            if len(self.findings) > 40:
                print(f"  ... and {len(self.findings) - 40} more")
            return 1
        print(f"chaos: passed ({len(self.requests)} requests, {len(self.faults)} faults); "
              f"run folder {self.run}")
        return 0


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not (Path(argv[0]) / "history.json").exists():
        print("usage: scripts/chaos check RUN_DIR (a folder with history.json)", file=sys.stderr)
        return 2
    return Checker(Path(argv[0])).main()
