//! DNS discovery of a pool's endpoints (`discover = "HOST:PORT"`, as a Kubernetes headless
//! Service or Consul answers): A and AAAA records resolved with hickory-resolver on the runtime
//! (never a blocking getaddrinfo), from start-up and again every `resolve_every`. `dns_server`
//! set: that server alone, over UDP with TCP fallback, without /etc/hosts; unset: the system
//! resolver configuration (/etc/resolv.conf, its search domains and /etc/hosts, as getaddrinfo
//! would). Responses are not cached: every round asks the server, as Envoy's `STRICT_DNS`
//! cluster re-resolves every `dns_refresh_rate` whatever the TTL.
//!
//! Each address found is an endpoint `scheme://ADDRESS:PORT` that receives `HOST:PORT` as its
//! `Host` (and TLS server name). An address that stays keeps its `Member` (connections,
//! ejection and health state); one that leaves is dropped from the set but finishes its
//! requests in flight. A failed resolution, or an answer without an address, keeps the last set
//! (SPEC): it is counted (`PoolCounters::resolve_failures`) and logged once per streak of
//! failures (warn, then info when answers come back). Until the first answer the pool has no
//! endpoint, and its requests get a 502 that says why (`Discovery::not_found_yet`).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use http::Uri;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::PoolCounters;
use super::endpoint::Endpoint;
use super::members::{Member, Members};
use crate::config::{DiscoverConfig, UpstreamConfig};
use crate::constants::{DISCOVER_DNS_TIMEOUT, DISCOVER_RESOLVE_TIMEOUT};

/// What the pool reads of its discovery: whether it found endpoints yet, and if not, why.
pub struct Discovery {
    /// Why no endpoint was found yet; `None` once a resolution found some.
    waiting: Mutex<Option<String>>,
    /// True once the first resolution has answered, whatever it answered.
    settled: watch::Sender<bool>,
}

impl Discovery {
    /// Why the pool has no endpoint yet (`None` once discovery found some).
    pub fn not_found_yet(&self) -> Option<String> {
        self.lock().clone()
    }

    /// Returns once the first resolution is over (found endpoints or failed), or `within`
    /// has passed.
    pub async fn first(&self, within: Duration) {
        let mut settled = self.settled.subscribe();
        let _ = tokio::time::timeout(within, settled.wait_for(|settled| *settled)).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        // One string: consistent whatever panicked while holding the lock.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Everything the discovery task needs.
struct Discoverer {
    pool: Arc<str>,
    /// `HOST` as written, what is looked up.
    host: String,
    port: u16,
    /// `scheme://HOST:PORT/`: the endpoints' `Host` and TLS server name.
    origin: Uri,
    every: Duration,
    resolver: TokioResolver,
    connect_timeout: Duration,
    request_timeout: Duration,
    /// The health checks' timeout, when the pool has checks.
    checked: Option<Duration>,
    members: Arc<Members>,
    counters: Arc<PoolCounters>,
    status: Arc<Discovery>,
}

/// Starts discovering `discover`'s endpoints into `members` (on the current Tokio runtime).
/// Fails only when the resolver cannot be set up (no readable /etc/resolv.conf without
/// `dns_server`).
pub fn start(
    config: &UpstreamConfig,
    discover: &DiscoverConfig,
    members: Arc<Members>,
    counters: Arc<PoolCounters>,
) -> Result<(Arc<Discovery>, JoinHandle<()>), String> {
    let origin = format!("{}://{}:{}/", discover.scheme, discover.host, discover.port)
        .parse::<Uri>()
        .map_err(|e| {
            format!(
                "discover {}:{} is not a host and port: {e}",
                discover.host, discover.port
            )
        })?;
    let status = Arc::new(Discovery {
        waiting: Mutex::new(Some("the first resolution is under way".to_owned())),
        settled: watch::Sender::new(false),
    });
    let discoverer = Discoverer {
        pool: config.name.as_str().into(),
        host: discover.host.clone(),
        port: discover.port,
        origin,
        every: discover.resolve_every,
        resolver: resolver(discover)?,
        connect_timeout: config.connect_timeout,
        request_timeout: config.request_timeout,
        checked: config.health.as_ref().map(|health| health.timeout),
        members,
        counters,
        status: status.clone(),
    };
    Ok((status, tokio::spawn(discoverer.run())))
}

fn resolver(discover: &DiscoverConfig) -> Result<TokioResolver, String> {
    let mut builder = match discover.dns_server {
        Some(server) => {
            let mut name_server = NameServerConfig::udp_and_tcp(server.ip());
            for connection in &mut name_server.connections {
                connection.port = server.port();
            }
            let mut builder = TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![name_server]),
                TokioRuntimeProvider::default(),
            );
            builder.options_mut().use_hosts_file = ResolveHosts::Never;
            builder
        }
        None => TokioResolver::builder_tokio().map_err(|e| {
            format!(
                "cannot read the system resolver configuration (/etc/resolv.conf): {e}; set \
                 `dns_server = \"IP:PORT\"`"
            )
        })?,
    };
    let options = builder.options_mut();
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    options.timeout = DISCOVER_DNS_TIMEOUT;
    // One try per round: a lost answer costs nothing but the next round's wait, since a failed
    // round keeps the last set.
    options.attempts = 1;
    options.try_tcp_on_error = true;
    // Every round asks the server (see the module doc).
    options.cache_size = 0;
    options.positive_max_ttl = Some(Duration::ZERO);
    options.negative_max_ttl = Some(Duration::ZERO);
    builder
        .build()
        .map_err(|e| format!("cannot set up the DNS resolver: {e}"))
}

impl Discoverer {
    async fn run(self) {
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            ticks.tick().await;
            match self.resolve().await {
                Ok(addresses) => {
                    self.apply(&addresses);
                    if failing {
                        tracing::info!(
                            upstream = %self.pool,
                            name = %self.host,
                            endpoints = addresses.len(),
                            "DNS discovery answers again"
                        );
                        failing = false;
                    }
                }
                Err(cause) => {
                    self.counters
                        .resolve_failures
                        .fetch_add(1, Ordering::Relaxed);
                    let kept = self.members.current().len();
                    if !failing {
                        tracing::warn!(
                            upstream = %self.pool,
                            name = %self.host,
                            reason = "resolve_failed",
                            %cause,
                            endpoints = kept,
                            "DNS discovery failed; the pool keeps its last endpoints until it answers again"
                        );
                        failing = true;
                    }
                    let mut waiting = self.status.lock();
                    if waiting.is_some() {
                        *waiting = Some(cause);
                    }
                }
            }
            self.status.settled.send_replace(true);
        }
    }

    /// The addresses the name has now (never empty: no address is an error).
    async fn resolve(&self) -> Result<BTreeSet<SocketAddr>, String> {
        let lookup = tokio::time::timeout(
            DISCOVER_RESOLVE_TIMEOUT,
            self.resolver.lookup_ip(self.host.as_str()),
        )
        .await
        .map_err(|_| {
            format!(
                "no answer for {} within {DISCOVER_RESOLVE_TIMEOUT:?}",
                self.host
            )
        })?
        .map_err(|e| format!("resolving {}: {e}", self.host))?;
        let addresses: BTreeSet<SocketAddr> = lookup
            .iter()
            .map(|ip| SocketAddr::new(ip, self.port))
            .collect();
        if addresses.is_empty() {
            return Err(format!("the answer for {} has no address", self.host));
        }
        Ok(addresses)
    }

    /// Makes `addresses` the pool's endpoints, keeping the members of those that stay.
    fn apply(&self, addresses: &BTreeSet<SocketAddr>) {
        let current = self.members.current();
        let known: BTreeSet<SocketAddr> =
            current.iter().filter_map(|m| m.endpoint.address).collect();
        if &known != addresses {
            let mut next = Vec::with_capacity(addresses.len());
            for &address in addresses {
                if let Some(stays) = current.iter().find(|m| m.endpoint.address == Some(address)) {
                    next.push(stays.clone());
                    continue;
                }
                match Endpoint::discovered(
                    &self.origin,
                    address,
                    self.connect_timeout,
                    self.request_timeout,
                ) {
                    Ok(endpoint) => next.push(Arc::new(Member::new(endpoint, self.checked))),
                    Err(problem) => tracing::warn!(
                        upstream = %self.pool,
                        %address,
                        problem = problem.0,
                        "a discovered endpoint cannot be used"
                    ),
                }
            }
            let list = |set: &mut dyn Iterator<Item = &SocketAddr>| {
                set.map(ToString::to_string).collect::<Vec<_>>().join(" ")
            };
            tracing::info!(
                upstream = %self.pool,
                name = %self.host,
                added = %list(&mut addresses.difference(&known)),
                removed = %list(&mut known.difference(addresses)),
                endpoints = next.len(),
                "DNS discovery changed the pool's endpoints"
            );
            self.members.replace(next);
        }
        self.status.lock().take();
    }
}
