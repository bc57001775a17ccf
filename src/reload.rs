//! Live reload of the policy and `[forward]` (claims, and the assertion key files re-read): on
//! SIGHUP and when the files change on disk.
//!
//! A reload parses and checks everything first and then swaps one `Snapshot`: every request sees
//! either the old policy or the new one, never a mix. A broken file is rejected with its
//! file:line:column errors in the log and a metric, and the old policy keeps serving. Settings
//! that need a restart (listeners, TLS, upstream, auth) are compared and the log says so.

use std::sync::Arc;

use crate::config::{Config, Diagnostics};
use crate::constants::RELOAD_DEBOUNCE;
use crate::proxy::{Gateway, ReloadOutcome, Snapshot};

/// Reloads from `running.source`. `running` is the configuration the process started with.
pub fn reload(gateway: &Gateway, running: &Config) -> Result<(), Diagnostics> {
    let result = crate::load::config(&running.source).and_then(|config| {
        warn_about_restart_only_changes(running, &config);
        let snapshot = Snapshot::load(&config)?;
        // Pools change with a restart: the policy must name pools this process runs.
        let unknown =
            (snapshot.policy).unknown_pools(&running.pool_names(), running.upstream.is_some());
        if unknown.0.is_empty() {
            Ok(snapshot)
        } else {
            Err(unknown)
        }
    });
    match result {
        Ok(snapshot) => {
            // Store first: whoever reads "policy reloaded" (an operator, tests/cli_serve.rs)
            // may send a request at once, and it must meet the new policy.
            let snapshot = Arc::new(snapshot);
            gateway.snapshot.store(snapshot.clone());
            tracing::info!(
                policy = %snapshot.policy.source.display(),
                sha256 = %snapshot.policy.sha256,
                "policy reloaded"
            );
            gateway.requests.policy_reloads.inc();
            remember(gateway, Ok(snapshot.policy.sha256.clone()));
            Ok(())
        }
        Err(diagnostics) => {
            gateway.requests.policy_reload_failures.inc();
            for diagnostic in &diagnostics.0 {
                tracing::error!(problem = %diagnostic, "policy reload rejected; the previous policy keeps serving");
            }
            remember(
                gateway,
                Err(diagnostics.0.iter().map(ToString::to_string).collect()),
            );
            Err(diagnostics)
        }
    }
}

/// Keeps the outcome for the console's overview.
fn remember(gateway: &Gateway, result: Result<String, Vec<String>>) {
    let outcome = ReloadOutcome {
        at: std::time::SystemTime::now(),
        result,
    };
    *gateway
        .last_reload
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(outcome);
}

fn warn_about_restart_only_changes(running: &Config, new: &Config) {
    let changed = |what: &str| {
        tracing::warn!(
            setting = what,
            "{what} changed in the config file; it takes effect only after a restart"
        )
    };
    if running.server.listen != new.server.listen
        || running
            .server
            .tls
            .as_ref()
            .map(|t| (&t.cert, &t.key, &t.client_ca))
            != new
                .server
                .tls
                .as_ref()
                .map(|t| (&t.cert, &t.key, &t.client_ca))
    {
        changed("[server]");
    }
    if running.admin.listen != new.admin.listen {
        changed("[admin]");
    }
    if running.upstream != new.upstream {
        changed("[upstream]");
    }
    if running.upstreams != new.upstreams {
        changed("[upstreams]");
    }
    // Issuers, like the rest of [auth], change with a restart (replicas roll).
    if running.auth.issuers != new.auth.issuers {
        changed("[auth]");
    }
    // `format` is left out: `--log-format` may have replaced the file's value at start.
    let log = |c: &Config| (c.log.file.clone(), c.log.on_full, c.log.buffer);
    if log(running) != log(new) {
        changed("[log]");
    }
    if running.telemetry != new.telemetry {
        changed("[telemetry]");
    }
    if running.state != new.state {
        changed("[state]");
    }
}

/// Watches the folders holding the config file and the policy file (a folder, not the file, so
/// an editor that writes a new file and renames it over the old one is seen) and reloads after
/// each burst of changes. Runs until `shutdown`.
pub async fn watch_files(
    gateway: Arc<Gateway>,
    running: Config,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    use notify::{RecursiveMode, Watcher};

    let mut watched: Vec<std::path::PathBuf> =
        vec![running.source.clone(), running.policy.file.clone()];
    // The assertion keys too: replacing a key file (or the Secret holding it) re-signs with it.
    if let Some(assertion) = &running.forward.assertion {
        watched.push(assertion.key_file.clone());
        watched.extend(assertion.previous_key_file.clone());
    }
    let (events, mut changes) = tokio::sync::mpsc::unbounded_channel::<()>();
    let names = watched.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            // Kubernetes updates a mounted ConfigMap by swapping the `..data` symlink, so the
            // policy's own name never appears in the event.
            let relevant = event.paths.iter().any(|path| {
                path.file_name().is_some_and(|name| name == "..data")
                    || names
                        .iter()
                        .any(|watched| path.file_name() == watched.file_name())
            });
            if relevant && !matches!(event.kind, notify::EventKind::Access(_)) {
                let _ = events.send(());
            }
        }
    });
    let mut watcher = match watcher {
        Ok(watcher) => watcher,
        Err(error) => {
            tracing::warn!(%error, "cannot watch the policy files; reload with SIGHUP instead");
            return;
        }
    };
    let mut folders: Vec<&std::path::Path> =
        watched.iter().filter_map(|file| file.parent()).collect();
    folders.sort();
    folders.dedup();
    for folder in folders {
        if let Err(error) = watcher.watch(folder, RecursiveMode::NonRecursive) {
            tracing::warn!(folder = %folder.display(), %error, "cannot watch folder; reload with SIGHUP instead");
        }
    }
    loop {
        tokio::select! {
            change = changes.recv() => {
                if change.is_none() {
                    return;
                }
            }
            () = crate::proxy::server::stopped(&mut shutdown) => return,
        }
        // Debounce: wait for RELOAD_DEBOUNCE of quiet.
        loop {
            match tokio::time::timeout(RELOAD_DEBOUNCE, changes.recv()).await {
                Ok(Some(())) => continue,
                Ok(None) => return,
                Err(_) => break,
            }
        }
        tracing::info!("policy or config file changed on disk; reloading");
        let _ = reload(&gateway, &running);
    }
}
