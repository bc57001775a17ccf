"""Proof that the checker can fail: each of the issue's failures written into a copy of a real,
passing run folder, and the checker must report exactly that rule for each.

Usage: scripts/chaos selftest RUN_DIR   (a folder of a run that passed)
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
import tempfile
from pathlib import Path

import check


def quiet_findings(run: Path) -> tuple[int, list[str]]:
    checker = check.Checker(run)
    with contextlib.redirect_stdout(io.StringIO()):
        status = checker.main()
    return status, checker.findings


def calm(h: dict, rec: dict, margin: float = 1.6, only: str | None = None) -> bool:
    """Away from every fault (or every `only` fault) by more than the checker's excuse for it."""
    return all(rec["t0"] > f["end"] + margin or rec["t1"] < f["start"] - margin
               for f in h["faults"] if only in (None, f["fault"]))


def forwarded_refusal(run: Path, h: dict) -> None:
    rec = next(r for r in h["requests"] if r["kind"] == "forged")
    with (run / "backend.log").open("a") as f:
        f.write(f"{rec['rid']} {rec['method']} {rec['path']}\n")


def allowed_refused(run: Path, h: dict) -> None:
    next(r for r in h["requests"] if r["kind"] == "allowed" and r["status"] == 200)["status"] = 403


def idempotent_5xx(run: Path, h: dict) -> None:
    next(r for r in h["requests"] if r["kind"] == "allowed" and calm(h, r, 0.5))["status"] = 502


def rate_limit(run: Path, h: dict) -> None:
    """Every 429 let through, and as many again (a short run's bound is above its load)."""
    limited = [r for r in h["requests"] if r["kind"] == "limited"]
    for r in limited:
        r["status"] = 200
    h["requests"] += [{**r, "rid": f"{r['rid']}-again"} for r in limited * 2]


def dpop_twice(run: Path, h: dict) -> None:
    next(r for r in h["requests"]
         if r["kind"] == "dpop_replay" and r["status"] == 401 and calm(h, r, 1.1, "redis_restart"))["status"] = 200


def access_line_lost(run: Path, h: dict) -> None:
    rid = next(r for r in h["requests"] if r["status"] is not None and calm(h, r, 0.5)
               and all(not f.get("killed") or r["t1"] < f["start"] - 1.6 or r["t0"] > f["end"]
                       for f in h["faults"]))["rid"]
    for path in run.glob("gw*.access.log"):
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(l for l in lines if f'"request_id":"{rid}"' not in l))


def rss_growing(run: Path, h: dict) -> None:
    h["rss"] += [{"t": 1000 + i, "gateway": "gw9", "pid": 1, "rss_kib": 40_000 + i * 20_000}
                 for i in range(20)]


CASES = [
    (forwarded_refusal, "refused request reached the backend"),
    (allowed_refused, "allowed request refused"),
    (idempotent_5xx, "idempotent request failed"),
    (rate_limit, "rate limit exceeded"),
    (dpop_twice, "DPoP proof accepted twice"),
    (access_line_lost, "access line missing"),
    (rss_growing, "RSS growing"),
]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    source = Path(argv[0])
    status, findings = quiet_findings(source)
    if status != 0:
        print(f"selftest: {source} does not pass as it is: {findings[:3]}", file=sys.stderr)
        return 2
    failed = skipped = 0
    for doctor, rule in CASES:
        with tempfile.TemporaryDirectory(prefix="chaos-selftest-") as tmp:
            run = Path(tmp)
            for path in source.iterdir():
                if path.name == "history.json" or path.name.endswith(".log"):
                    shutil.copy(path, run / path.name)
            h = json.loads((run / "history.json").read_text())
            try:
                doctor(run, h)
            except StopIteration:
                skipped += 1
                print(f"skip {doctor.__name__}: no request far enough from the faults "
                      "(a run this short has none; CHAOS_SECONDS=30 has)")
                continue
            (run / "history.json").write_text(json.dumps(h))
            status, findings = quiet_findings(run)
            hit = [f for f in findings if f.startswith(rule)]
            ok = status == 1 and hit
            failed += not ok
            print(f"{'ok  ' if ok else 'MISS'} {doctor.__name__}: "
                  f"{hit[0] if hit else 'not reported; findings: ' + repr(findings[:3])}")
    print(f"selftest: {len(CASES) - failed - skipped} of {len(CASES)} doctored histories failed as "
          f"they must{f', {skipped} skipped' if skipped else ''}")
    return 1 if failed else 0
