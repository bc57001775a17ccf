//! `gateway serve`: load the configuration, start the gateway, and run until SIGTERM/SIGINT.
//!
//! SIGHUP reloads the policy and `[forward]` (as does a change of either file on disk).
//! SIGUSR1 reopens `[log] file` (logrotate's `postrotate`). SIGTERM and SIGINT stop accepting,
//! drain in-flight requests (bounded), write out the queued access lines, and exit 0.

use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;
use crate::telemetry::LogFormat;

/// Builds the runtime with `[server] workers` threads and serves. Sync because the worker count
/// comes from the config file. `log_format` is `--log-format`, which wins over `[log] format`;
/// `init_tracing` gets the format that results before anything is logged.
pub fn main(
    config_path: &Path,
    log_format: Option<LogFormat>,
    init_tracing: impl FnOnce(LogFormat),
) -> ExitCode {
    let loaded = crate::load::config(config_path);
    let format = match &loaded {
        Ok(config) => log_format.unwrap_or(config.log.format),
        Err(_) => log_format.unwrap_or_default(),
    };
    init_tracing(format);
    let mut config = match loaded {
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
    config.log.format = format;
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
    let mut reopen = signal(SignalKind::user_defined1())?;
    loop {
        tokio::select! {
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: reloading the policy");
                let _ = running.reload();
            }
            _ = reopen.recv() => running.reopen_access_log(),
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signals(_running: &crate::Running) -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}
