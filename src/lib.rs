//! gateway: an authorizing reverse proxy.
//!
//! A request travels `proxy::server` -> `proxy::pipeline` (normalise, match, authenticate,
//! authorise, admit, forward, log) -> the upstream. `policy` decides, `auth` proves who is
//! calling, `config` holds what the operator wrote, `telemetry` records what happened, `reload`
//! swaps in a new policy without a restart. See docs/architecture.md.
//!
//! `start` binds everything and returns a `Running` handle, so tests can start a whole gateway on
//! `127.0.0.1:0` and read back the ports it got.

pub mod admin;
pub mod assertion;
pub mod auth;
pub mod commands;
pub mod config;
pub mod console;
pub mod constants;
pub mod dev;
pub mod diagnostic;
pub mod explain;
pub mod fetch;
pub mod identity;
pub mod load;
pub mod oauth;
pub mod policy;
pub mod proxy;
pub mod reload;
pub mod state;
pub mod telemetry;
pub mod tooling;
pub mod units;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Config, Diagnostics};
use crate::proxy::Gateway;
pub use crate::proxy::StartError;
use crate::proxy::server::{DataPlane, ListenError};

/// A started gateway.
pub struct Running {
    data_addr: SocketAddr,
    admin_addr: SocketAddr,
    gateway: Arc<Gateway>,
    config: Config,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Binds the data plane and the admin listener, loads the policy, starts fetching keys, and
/// serves in the background. Returns once both listeners are bound.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let gateway = Arc::new(Gateway::new(&config)?);
    // Pools that discover their endpoints through DNS get a bounded moment to find them.
    gateway
        .upstreams
        .first_resolutions(crate::constants::DISCOVER_START_WAIT)
        .await;
    let mut registry = Registry::default();
    gateway.metrics.register(&mut registry);
    gateway.requests.register(&mut registry);
    gateway.state_metrics.register(&mut registry);
    let shared_config = Arc::new(config.clone());
    // The pool metrics are read from the pools at each scrape (the console's gather).
    let pools = (gateway.clone(), shared_config.clone());
    telemetry::metrics::PoolMetrics::new(Arc::new(move || {
        console::pools(&pools.0.upstreams, &pools.1)
    }))
    .register(&mut registry);

    let data_plane = DataPlane::bind(&config.server).await?;
    let admin_listener = TcpListener::bind(config.admin.listen)
        .await
        .map_err(|source| StartError::AdminBind {
            addr: config.admin.listen,
            source,
        })?;
    let data_addr = data_plane
        .local_addr()
        .map_err(|source| ListenError::Bind {
            addr: config.server.listen,
            source,
        })?;
    let admin_addr = admin_listener
        .local_addr()
        .map_err(|source| StartError::AdminBind {
            addr: config.admin.listen,
            source,
        })?;

    let (shutdown, stop) = watch::channel(false);
    let tasks = vec![
        tokio::spawn(data_plane.serve(gateway.clone(), stop.clone())),
        tokio::spawn(admin::serve(
            admin_listener,
            gateway.clone(),
            Arc::new(registry),
            Arc::new(console::Console::new(shared_config, admin_addr)),
            Arc::new(config.admin.hosts.clone()),
            stop.clone(),
        )),
        tokio::spawn(reload::watch_files(gateway.clone(), config.clone(), stop)),
    ];
    tracing::info!(
        data = %data_addr,
        admin = %admin_addr,
        upstream = %config
            .pools()
            .map(|pool| format!("{}={}", pool.name, pool.describe()))
            .collect::<Vec<_>>()
            .join(" "),
        issuers = %config
            .auth
            .issuers
            .iter()
            .map(|issuer| format!("{}={}", issuer.name, issuer.issuer))
            .collect::<Vec<_>>()
            .join(" "),
        policy = %config.policy.file.display(),
        "gateway listening"
    );
    Ok(Running {
        data_addr,
        admin_addr,
        gateway,
        config,
        shutdown,
        tasks,
    })
}

impl Running {
    /// The data plane's bound address.
    pub fn data_addr(&self) -> SocketAddr {
        self.data_addr
    }

    /// The admin listener's bound address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The shared state (for tests and the reload watcher).
    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// The configuration file this gateway was started from.
    pub fn config_file(&self) -> PathBuf {
        self.config.source.clone()
    }

    /// Re-reads the config file and the policy and swaps them in at once; on any error the
    /// running policy stays and the errors are returned.
    pub fn reload(&self) -> Result<(), Diagnostics> {
        reload::reload(&self.gateway, &self.config)
    }

    /// Asks the access log to reopen `[log] file` (what SIGUSR1 does, for logrotate).
    pub fn reopen_access_log(&self) {
        if let Some(log) = &self.gateway.access_log {
            log.reopen();
        }
    }

    /// Stops accepting, drains in-flight requests (bounded by `drain_timeout`), then writes out
    /// every queued access line and exports the last spans, and returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        // Both block (a thread join, an export): off the runtime's threads, which the export
        // itself needs.
        let gateway = self.gateway;
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(log) = &gateway.access_log {
                log.shutdown();
            }
            if let Some(tracing) = &gateway.tracing {
                tracing.shutdown();
            }
        })
        .await;
    }
}
