//! `gateway serve`: load the configuration, start the gateway, and run until SIGTERM/SIGINT.
//!
//! SIGHUP reloads the policy and `[forward]` (as does a change of either file on disk).
//! SIGTERM and SIGINT stop accepting, drain in-flight requests (bounded), and exit 0.

use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;

/// Builds the runtime with `[server] workers` threads and serves. Sync because the worker count
/// comes from the config file.
pub fn main(config_path: &Path) -> ExitCode {
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            eprintln!(
                "error: {} has {} problem(s); `gateway check --config {}` lists them",
                config_path.display(),
                diagnostics.0.len(),
                config_path.display()
            );
            return ExitCode::FAILURE;
        }
    };
    // One worker: a current-thread runtime does the same work without the multi-thread
    // scheduler's cross-thread bookkeeping (measured in docs/benchmarks.md).
    let mut builder = match config.server.workers {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(workers) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(workers);
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    match builder.enable_all().build() {
        Ok(runtime) => runtime.block_on(serve(config)),
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a loaded configuration until a termination signal.
pub async fn serve(config: Config) -> ExitCode {
    let running = match crate::start(config).await {
        Ok(running) => running,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = wait_for_signals(&running).await {
        eprintln!("error: cannot install signal handlers: {error}");
        return ExitCode::FAILURE;
    }
    tracing::info!("shutting down: draining in-flight requests");
    running.shutdown().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

#[cfg(unix)]
async fn wait_for_signals(running: &crate::Running) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: reloading the policy");
                let _ = running.reload();
            }
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signals(_running: &crate::Running) -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}
