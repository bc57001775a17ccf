//! Hostile clients and heavy load: idle connections cannot starve active ones, the connection
//! cap refuses loudly, a failing upstream leaks no file descriptors, and mixed load produces no
//! wrong decision. `soak` is the long variant (scripts/soak).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::world::World;
use tokio::io::AsyncReadExt;

/// The tests in this file measure the whole process (file descriptors, RSS) or load it heavily,
/// and cargo runs a file's tests as threads of one process: each holds this lock so no other
/// test's connections or buffers land in its measurements.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn gauge(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from:\n{metrics}"))
}

#[tokio::test]
async fn a_thousand_idle_connections_do_not_starve_active_clients_and_are_closed() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let world =
        World::start_with(|o| o.server_extra.push_str("header_read_timeout = \"1s\"\n")).await;
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(
            tokio::net::TcpStream::connect(world.gateway.addr)
                .await
                .unwrap(),
        );
    }
    for _ in 0..10 {
        assert_eq!(world.get("/forecast", "read:forecast").await.status(), 200);
    }
    // The header read timeout closes every connection that never sent a request.
    for mut stream in idle {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await;
        assert!(read.is_ok(), "an idle connection was never closed");
    }
}

#[tokio::test]
async fn the_connection_cap_refuses_with_a_metric() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let world = World::start_with(|o| o.server_extra.push_str("max_connections = 5\n")).await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(
            tokio::net::TcpStream::connect(world.gateway.addr)
                .await
                .unwrap(),
        );
    }
    // Let the gateway account for all five.
    let admin = world.gateway.admin.clone();
    support::wait::poll("five open connections", support::wait::DEADLINE, || async {
        let metrics = reqwest::get(format!("{admin}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (gauge(&metrics, "gateway_open_connections") >= 5.0).then_some(())
    })
    .await;
    let mut refused = tokio::net::TcpStream::connect(world.gateway.addr)
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), refused.read(&mut buf))
        .await
        .expect("the connection over the cap was not closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    let metrics = world.gateway.metrics().await;
    assert!(gauge(&metrics, "gateway_refused_connections_total") >= 1.0);
    drop(held);
}

/// One request the upstream fails in one of these ways, and what the client saw if it was not
/// an honest failure.
const FAULTS: [&str; 7] = [
    "refused",
    "reset",
    "garbage",
    "stall",
    "head-then-close",
    "partial-then-close",
    "partial-then-stall",
];

async fn failing_round(
    client: &reqwest::Client,
    world: &World,
    refusing: &World,
    fault: &str,
) -> Result<(), String> {
    let (target, behaviour) = match fault {
        "refused" => (refusing, "none"),
        other => (world, other),
    };
    let sent = client
        .get(target.url("/forecast"))
        .bearer_auth(target.token("read:forecast"))
        .header("x-test-behaviour", behaviour)
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    let mid_response = fault.contains("-then-");
    let mut response = match sent {
        // Honest failures before any answer: the client connection closed with nothing.
        Err(error) if mid_response && !error.is_timeout() => return Ok(()),
        Err(error) => return Err(format!("{fault}: {error}")),
        Ok(response) => response,
    };
    let status = response.status().as_u16();
    if fault == "partial-then-stall" && status == 200 {
        // Crash the upstream now that the client holds the head.
        world.backend.reset_stalled();
    }
    match (status, mid_response) {
        // Before the head: 502 for a dead upstream, 504 for a silent one (or a busy machine).
        (502 | 504, _) => Ok(()),
        // After the head: the download must fail, never end as if complete.
        (200, true) => loop {
            match response.chunk().await {
                Ok(Some(_)) => {}
                Ok(None) => return Err(format!("{fault}: a truncated body looked complete")),
                Err(_) => return Ok(()),
            }
        },
        _ => Err(format!("{fault}: {status}")),
    }
}

/// The failing-neighbour proof: a long mix of refused, reset, garbage, silent and mid-response
/// failures returns the process to its file-descriptor and memory baseline.
#[tokio::test]
async fn a_failing_upstream_leaks_neither_file_descriptors_nor_memory() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let timeouts = |o: &mut support::gateway::Options| {
        o.upstream_extra = "request_timeout = \"200ms\"\nconnect_timeout = \"1s\"\n".into()
    };
    let world = Arc::new(World::start_with(timeouts).await);
    // Bound but never listening, and held to the end of the test: connecting is refused, and no
    // other process can take the port meanwhile (as it could a port bound and then dropped).
    let refusing_port = tokio::net::TcpSocket::new_v4().unwrap();
    refusing_port.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let closed = refusing_port.local_addr().unwrap();
    let refusing = Arc::new(
        World::start_with(|o| {
            timeouts(o);
            o.upstream = format!("http://{closed}");
        })
        .await,
    );
    // Ten lanes in parallel, each cycling through every fault (so a `stall` round, which
    // costs one request_timeout, comes up in every lane only every seventh round). Each run has
    // its own client, dropped at the end, so its keep-alive connections do not blur the count.
    let run = |rounds: usize| {
        let client = reqwest::Client::new();
        let lanes: Vec<_> = (0..10)
            .map(|lane| {
                let (world, refusing, client) = (world.clone(), refusing.clone(), client.clone());
                tokio::spawn(async move {
                    let mut wrong = Vec::new();
                    for i in 0..rounds / 10 {
                        let fault = FAULTS[(lane + i) % FAULTS.len()];
                        if let Err(what) = failing_round(&client, &world, &refusing, fault).await {
                            wrong.push(what);
                        }
                    }
                    wrong
                })
            })
            .collect();
        async move {
            for lane in lanes {
                let wrong = lane.await.unwrap();
                assert!(wrong.is_empty(), "dishonest failures: {wrong:?}");
            }
        }
    };
    // Failed upstream connections must all be closed, on both sides (the backend runs in this
    // process too). The slack of 8 covers keep-alive connections the test harness opens or
    // closes on its own schedule (the lanes' client as it shuts down, the gateways' key-set
    // fetches); a leak of one connection per failure would be hundreds.
    let initial = open_fds();
    let back_to_baseline = || async {
        support::wait::until("fds back to baseline", || open_fds() <= initial + 8).await;
    };
    // Warm-up: pools, buffers, the token cache and the allocator's arenas reach their working
    // size; then the memory baseline.
    run(200).await;
    back_to_baseline().await;
    let rss = vm_rss();
    run(1000).await;
    back_to_baseline().await;
    // Memory: 1,000 failures after the warm-up may not add 10 MiB, so anything leaking 10 KiB
    // or more per failure (a connection with its buffers, a request with its headers and task)
    // fails. Measured on the shared 2-core machine: under 1 MiB of growth, so allocator noise
    // is far from the bound. Smaller per-request leaks are the soak's to catch.
    let grown = vm_rss().saturating_sub(rss);
    assert!(
        grown < 10 * MIB,
        "RSS grew by {} KiB over 1,000 upstream failures",
        grown / 1024
    );
    // The gateway is fine afterwards.
    assert_eq!(world.get("/forecast", "read:forecast").await.status(), 200);
}

/// What a request of each kind must get, whatever the load.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Allowed,
    MissingScope,
    Restricted,
    Forged,
    NoToken,
}

impl Kind {
    fn expected(self) -> u16 {
        match self {
            Kind::Allowed => 200,
            Kind::MissingScope | Kind::Restricted => 403,
            Kind::Forged | Kind::NoToken => 401,
        }
    }
}

/// What a mixed-load run saw.
struct LoadReport {
    sent: usize,
    /// Allowed requests answered 5xx (each is also a wrong decision; counted apart because the
    /// issue names it).
    allowed_5xx: usize,
    /// Resident memory of the whole process (client, gateway and backend), sampled every
    /// 500 ms from the start of the load: (seconds since start, bytes).
    rss: Vec<(f64, u64)>,
    /// The most file descriptors open at a sample (`usize::MAX`: the open-file limit was hit).
    peak_fds: usize,
}

/// Requests a mixed-load client did not get the expected answer for.
#[derive(Default)]
struct Failures {
    count: usize,
    /// Allow/deny swapped: a 200, 401 or 403 other than the expected one.
    decisions: usize,
    allowed_5xx: usize,
    transport: usize,
    first: Vec<String>,
}

impl Failures {
    fn add(&mut self, other: Failures) {
        self.count += other.count;
        self.decisions += other.decisions;
        self.allowed_5xx += other.allowed_5xx;
        self.transport += other.transport;
        self.first.extend(other.first);
    }
}

/// Resident memory of this process now (VmRSS), in bytes.
fn vm_rss() -> u64 {
    try_vm_rss().expect("/proc/self/status has VmRSS")
}

/// `None` when /proc/self/status cannot be opened (the process is at its open-file limit).
fn try_vm_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

const MIB: u64 = 1024 * 1024;

/// An error and its causes on one line ("error sending request: ... : connection reset").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Nothing restricted, forged or unauthenticated ever reaches the backend.
fn check_forwarded(seen: Vec<support::backend::Seen>) {
    for seen in seen {
        assert_eq!(seen.target, "/forecast", "{seen:?}");
        assert_eq!(seen.headers["x-auth-scopes"], "read:forecast");
    }
}

/// `connections` clients, each on its own keep-alive connection, sending a mix of requests for
/// `duration`; every answer is checked against the decision it must get.
async fn mixed_load(connections: usize, duration: Duration) -> LoadReport {
    // The production default `request_timeout` (30 s, SPEC) rather than the tests' 2 s: client,
    // gateway and backend share this process's cores, and at 5,000 connections a request can
    // queue behind thousands of others for longer than 2 s. A 504 is still a failure here.
    let world = Arc::new(
        World::start_with(|o| {
            o.upstream_extra = "request_timeout = \"30s\"\nconnect_timeout = \"5s\"\n".into()
        })
        .await,
    );
    let good = Arc::new(world.token("read:forecast"));
    let mut forged = world.token("read:forecast read:inventory");
    forged.replace_range(forged.len() - 4.., "AAAA");
    let forged = Arc::new(forged);
    let start = Instant::now();
    let deadline = start + duration;
    // Every 500 ms: check what reached the backend (and let the backend forget it, so its
    // record does not count as growth), then sample RSS and open file descriptors. On its own
    // thread, so the samples keep coming when the runtime is saturated.
    let sampling = world.clone();
    let sampler = std::thread::spawn(move || {
        let mut samples = Vec::new();
        let mut peak_fds = 0;
        loop {
            check_forwarded(sampling.backend.take_seen());
            // Failing to open /proc/self/fd means the process is at its open-file limit.
            let fds = std::fs::read_dir("/proc/self/fd").map_or(usize::MAX, |d| d.count());
            let at = start.elapsed().as_secs_f64();
            let rss =
                try_vm_rss().unwrap_or_else(|| samples.last().map_or(0, |s: &(f64, u64)| s.1));
            samples.push((at, rss));
            peak_fds = peak_fds.max(fds);
            if samples.len() % 10 == 1 {
                println!(
                    "{at:5.1} s: RSS {} MiB, {fds} open file descriptors",
                    rss / MIB
                );
            }
            if Instant::now() >= deadline {
                return (samples, peak_fds);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    // One client whose pool keeps up to `connections` keep-alive connections open.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let world = world.clone();
        let good = good.clone();
        let forged = forged.clone();
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut failures = Failures::default();
            let mut sent = 0usize;
            let mut i = c;
            // Connections open in a ramp of 100 every 100 ms (5,000 in 5 s, well inside the
            // 10 s warm-up window) rather than all in the same instant, which overflows the
            // listener's accept queue (tokio's backlog is 1,024) and piles up thousands of
            // upstream connections at once: the kernel's SYN retries and the open-file limit
            // would be measured instead of the gateway.
            tokio::time::sleep_until(
                (start + Duration::from_millis(100) * (c / 100) as u32).into(),
            )
            .await;
            while Instant::now() < deadline {
                let kind = [
                    Kind::Allowed,
                    Kind::MissingScope,
                    Kind::Restricted,
                    Kind::Forged,
                    Kind::NoToken,
                ][i % 5];
                i += 1;
                let (path, token) = match kind {
                    Kind::Allowed => ("/forecast", Some(good.as_str())),
                    Kind::MissingScope => ("/inventory", Some(good.as_str())),
                    Kind::Restricted => ("/models/train", Some(good.as_str())),
                    Kind::Forged => ("/inventory", Some(forged.as_str())),
                    Kind::NoToken => ("/forecast", None),
                };
                let mut request = client.get(world.url(path));
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                // A wrong decision proper is an answer of the wrong class (2xx, 401, 403) for
                // the request; the rest are requests the load kept from being served at all.
                // Only the first few messages are kept, so a failing run's record does not
                // itself grow memory.
                let failure = match request.send().await {
                    Ok(response) if response.status().as_u16() == kind.expected() => None,
                    Ok(response) => {
                        let status = response.status();
                        if matches!(status.as_u16(), 200 | 401 | 403) {
                            failures.decisions += 1;
                        }
                        if matches!(kind, Kind::Allowed) && status.is_server_error() {
                            failures.allowed_5xx += 1;
                        }
                        let body = response.text().await.unwrap_or_default();
                        Some(format!("{kind:?} -> {status} {body}"))
                    }
                    Err(error) => {
                        failures.transport += 1;
                        Some(format!("{kind:?} -> {}", chain(&error)))
                    }
                };
                if let Some(failure) = failure {
                    failures.count += 1;
                    if failures.first.len() < 3 {
                        failures.first.push(failure);
                    }
                }
                sent += 1;
            }
            (sent, failures)
        }));
    }
    let mut total = 0;
    let mut failed = Failures::default();
    for task in tasks {
        let (sent, failures) = task.await.unwrap();
        total += sent;
        failed.add(failures);
    }
    let (rss, peak_fds) = sampler.join().unwrap();
    failed.first.truncate(20);
    assert!(
        failed.count == 0,
        "{} of {total} requests answered wrongly: {} wrong decisions (allow/deny swapped), \
         {} 5xx on allowed, {} transport errors, the rest other statuses; first ones: {:?}",
        failed.count,
        failed.decisions,
        failed.allowed_5xx,
        failed.transport,
        failed.first
    );
    check_forwarded(world.backend.take_seen());
    LoadReport {
        sent: total,
        allowed_5xx: failed.allowed_5xx,
        rss,
        peak_fds,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_load_on_500_connections_makes_no_wrong_decision() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let report = mixed_load(500, Duration::from_secs(5)).await;
    assert!(
        report.sent >= 500,
        "only {} requests were sent",
        report.sent
    );
    assert_eq!(report.allowed_5xx, 0);
}

/// The long variant: `SOAK_CONNECTIONS=5000 SOAK_SECONDS=60 scripts/soak`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "long: run by scripts/soak"]
async fn soak() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let connections = std::env::var("SOAK_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let report = mixed_load(connections, Duration::from_secs(seconds)).await;
    // Memory flat: by the end of the first 10 s (a sixth of shorter runs) every connection is
    // open and every pool and buffer has been sized, so the highest RSS seen then is the level
    // the rest of the run must stay near. SOAK_RSS_GROWTH_MIB (default 64) is the allowed
    // growth: above allocator noise at 5,000 connections (a few MiB between samples), and far
    // below what a per-request leak of even 100 bytes adds over a minute (several hundred
    // thousand requests). The end is the last sample, taken while all connections are still open.
    let warm = (seconds as f64 / 6.0).min(10.0);
    let warm_level = report
        .rss
        .iter()
        .filter(|(at, _)| *at <= warm)
        .map(|(_, rss)| *rss)
        .max()
        .unwrap();
    let (_, end) = *report.rss.last().unwrap();
    let bound = std::env::var("SOAK_RSS_GROWTH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
        * MIB;
    let first = report.rss[0].1;
    let peak = report.rss.iter().map(|(_, rss)| *rss).max().unwrap();
    println!(
        "soak: {} requests on {connections} connections in {seconds} s: 0 wrong decisions, \
         {} 5xx on allowed; RSS first sample {} MiB, first {warm:.0} s max {} MiB, \
         peak {} MiB, end {} MiB; peak {} open file descriptors",
        report.sent,
        report.allowed_5xx,
        first / MIB,
        warm_level / MIB,
        peak / MIB,
        end / MIB,
        report.peak_fds,
    );
    assert_eq!(report.allowed_5xx, 0, "allowed requests answered 5xx");
    assert!(
        end <= warm_level + bound,
        "memory grew under steady load: {} MiB after the first {warm:.0} s, {} MiB at the end \
         (bound +{} MiB); samples: {:?}",
        warm_level / MIB,
        end / MIB,
        bound / MIB,
        report.rss
    );
}
