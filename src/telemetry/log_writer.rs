//! The access log's writer: a bounded buffer the request path appends to, and one thread that
//! writes it out in batches.
//!
//! A request formats its line into a per-thread scratch buffer (`access_log::write_line`), then
//! copies it into the shared pending buffer under a mutex held only for that copy. The writer
//! thread swaps the pending buffer for an empty one and writes the whole batch with one
//! `write_all`, outside the lock, so a slow disk or a stalled stderr reader never holds a request
//! up. It writes when the batch passes `ACCESS_LOG_BATCH_BYTES` (the request that crosses it
//! wakes the thread, once), at least every `ACCESS_LOG_FLUSH_INTERVAL` (1 s, Envoy's
//! `access_log_flush_interval`), on SIGUSR1 (after which it reopens `[log] file`, for logrotate)
//! and on shutdown, when it drains everything before the thread ends.
//!
//! The buffer is bounded (`[log] buffer`): when a line does not fit, `on_full = "drop"` counts
//! it in `gateway_access_log_dropped_total` and moves on; `"block"` waits for the writer. Lines
//! lost to a failed write are counted in the same counter, and logged once per failure spell.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

use prometheus_client::metrics::counter::Counter;

use super::access_log::{self, Line};
use crate::config::{LogFormat, OnFull};
use crate::constants as C;

/// Where the lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stderr,
    /// Appended to; reopened (created if gone) on `AccessLog::reopen`.
    File(PathBuf),
}

/// The running access log: cheap to call from any request, drained by `shutdown`.
pub struct AccessLog {
    format: LogFormat,
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    state: Mutex<State>,
    /// The writer waits here for a full batch, a reopen or shutdown.
    wake: Condvar,
    /// `on_full = "block"` requests wait here for room.
    room: Condvar,
    capacity: usize,
    on_full: OnFull,
    dropped: Counter,
}

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    /// The writer was already woken for this batch (one wake-up per batch, not per line).
    woken: bool,
    reopen: bool,
    stopping: bool,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(512));
}

impl AccessLog {
    /// Opens the destination and starts the writer thread. `capacity` bounds the bytes waiting
    /// to be written; `dropped` counts lines lost.
    pub fn start(
        destination: Destination,
        format: LogFormat,
        on_full: OnFull,
        capacity: usize,
        dropped: Counter,
    ) -> std::io::Result<AccessLog> {
        let mut sink = Sink::open(destination)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                pending: Vec::with_capacity(C::ACCESS_LOG_BATCH_BYTES.min(capacity)),
                ..State::default()
            }),
            wake: Condvar::new(),
            room: Condvar::new(),
            capacity,
            on_full,
            dropped,
        });
        let writer_shared = shared.clone();
        let writer = std::thread::Builder::new()
            .name("access-log".to_owned())
            .spawn(move || writer_shared.run(&mut sink))?;
        Ok(AccessLog {
            format,
            shared,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Formats `line` and queues it; never does I/O on the caller's thread.
    pub fn log(&self, line: &Line<'_>) {
        SCRATCH.with_borrow_mut(|scratch| {
            scratch.clear();
            access_log::write_line(scratch, self.format, SystemTime::now(), line);
            self.shared.push(scratch);
        });
    }

    /// Asks the writer to reopen the file after writing what it holds (SIGUSR1, logrotate).
    pub fn reopen(&self) {
        let mut state = self.shared.lock();
        state.reopen = true;
        self.shared.wake.notify_one();
    }

    /// Writes out every queued line and stops the writer; blocks until it has. Idempotent.
    pub fn shutdown(&self) {
        self.shared.stop();
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(writer) = writer
            && writer.join().is_err()
        {
            tracing::error!("the access log writer panicked; lines queued at shutdown are lost");
        }
    }
}

impl Drop for AccessLog {
    /// A gateway dropped without `shutdown` (tests) still lets its writer drain and end.
    fn drop(&mut self) {
        self.shared.stop();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a byte buffer, which is still a byte buffer.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stop(&self) {
        let mut state = self.lock();
        state.stopping = true;
        self.wake.notify_one();
        self.room.notify_all();
    }

    fn push(&self, line: &[u8]) {
        let mut state = self.lock();
        loop {
            // A line longer than the whole buffer still goes out, alone.
            if state.pending.len() + line.len() <= self.capacity || state.pending.is_empty() {
                state.pending.extend_from_slice(line);
                if state.pending.len() >= C::ACCESS_LOG_BATCH_BYTES && !state.woken {
                    state.woken = true;
                    self.wake.notify_one();
                }
                return;
            }
            if !state.woken {
                state.woken = true;
                self.wake.notify_one();
            }
            match self.on_full {
                OnFull::Block if !state.stopping => {
                    state = self
                        .room
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                _ => {
                    self.dropped.inc();
                    return;
                }
            }
        }
    }

    /// The writer thread: one batch per wake-up, until stopped and drained.
    fn run(&self, sink: &mut Sink) {
        let mut batch = Vec::with_capacity(C::ACCESS_LOG_BATCH_BYTES);
        let mut failing = false;
        loop {
            let (reopen, last) = {
                let mut state = self.lock();
                let deadline = Instant::now() + C::ACCESS_LOG_FLUSH_INTERVAL;
                while !state.woken && !state.reopen && !state.stopping {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    state = self
                        .wake
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                state.woken = false;
                std::mem::swap(&mut state.pending, &mut batch);
                self.room.notify_all();
                (
                    std::mem::take(&mut state.reopen),
                    state.stopping && state.pending.is_empty(),
                )
            };
            if !batch.is_empty() {
                match sink.write(&batch) {
                    Ok(()) => {
                        if failing {
                            tracing::info!("access log: writing again");
                        }
                        failing = false;
                    }
                    Err(error) => {
                        let lost = memchr::memchr_iter(b'\n', &batch).count();
                        self.dropped.inc_by(lost as u64);
                        if !failing {
                            tracing::error!(%error, lost, destination = %sink.name(), "access log: write failed; lines are counted in gateway_access_log_dropped_total until it works again");
                        }
                        failing = true;
                    }
                }
                // Keep the allocation, but do not hold on to a burst's worth of memory forever.
                batch.clear();
                batch.shrink_to(C::ACCESS_LOG_BATCH_BYTES * 2);
            }
            if reopen {
                sink.reopen();
            }
            if last {
                let _ = sink.flush();
                return;
            }
        }
    }
}

enum Sink {
    Stderr,
    File { path: PathBuf, file: File },
}

impl Sink {
    fn open(destination: Destination) -> std::io::Result<Sink> {
        Ok(match destination {
            Destination::Stderr => Sink::Stderr,
            Destination::File(path) => Sink::File {
                file: open_append(&path)?,
                path,
            },
        })
    }

    fn name(&self) -> String {
        match self {
            Sink::Stderr => "stderr".to_owned(),
            Sink::File { path, .. } => path.display().to_string(),
        }
    }

    /// One `write_all` for the batch. On stderr the lock keeps diagnostics from other threads
    /// out of the middle of it.
    fn write(&mut self, batch: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stderr => std::io::stderr().lock().write_all(batch),
            Sink::File { file, .. } => file.write_all(batch),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Stderr => std::io::stderr().lock().flush(),
            Sink::File { file, .. } => file.flush(),
        }
    }

    /// logrotate has renamed the file: open the name again (a new file); on failure keep
    /// writing to the old one, which still exists under its new name.
    fn reopen(&mut self) {
        let Sink::File { path, file } = self else {
            return;
        };
        match open_append(path) {
            Ok(new) => {
                *file = new;
                tracing::info!(file = %path.display(), "access log reopened");
            }
            Err(error) => tracing::error!(
                file = %path.display(),
                %error,
                "access log: cannot reopen; still writing to the previous file"
            ),
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests;
