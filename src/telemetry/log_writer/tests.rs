#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Duration;

use super::*;
use crate::telemetry::AccessRecord;

fn line_for<'a>(record: &'a AccessRecord, request_id: &'a str) -> Line<'a> {
    Line {
        request_id,
        method: "GET",
        path: "/forecast",
        record,
        status: 200,
        elapsed: Duration::from_micros(250),
        trace_id: None,
    }
}

fn request_ids(path: &Path) -> Vec<String> {
    // A file the writer never opened (nothing was written after a reopen) holds no lines.
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let json: serde_json::Value = serde_json::from_str(l).unwrap();
            json["request_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn file_log(path: &Path, on_full: OnFull, capacity: usize, dropped: &Counter) -> AccessLog {
    AccessLog::start(
        Destination::File(path.to_path_buf()),
        LogFormat::Json,
        on_full,
        capacity,
        dropped.clone(),
    )
    .unwrap()
}

#[test]
fn shutdown_writes_every_queued_line_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let dropped = Counter::default();
    let log = file_log(&path, OnFull::Drop, C::LOG_BUFFER as usize, &dropped);
    let record = AccessRecord::default();
    let ids: Vec<String> = (0..2_000).map(|i| format!("req-{i}")).collect();
    for id in &ids {
        log.log(&line_for(&record, id));
    }
    log.shutdown();
    assert_eq!(request_ids(&path), ids);
    assert_eq!(dropped.get(), 0);
}

#[test]
fn a_full_buffer_drops_and_counts_instead_of_waiting() {
    // No writer thread: nothing drains, so the buffer fills.
    let shared = Shared {
        state: Mutex::new(State::default()),
        wake: Condvar::new(),
        room: Condvar::new(),
        capacity: 100,
        on_full: OnFull::Drop,
        dropped: Counter::default(),
    };
    let line = [b'x'; 40];
    for _ in 0..5 {
        shared.push(&line);
    }
    assert_eq!(shared.lock().pending.len(), 80);
    assert_eq!(shared.dropped.get(), 3);
    assert!(shared.lock().woken, "a full buffer wakes the writer");
}

#[test]
fn on_full_block_keeps_every_line_however_small_the_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let dropped = Counter::default();
    // Smaller than one line: every line waits for the writer to take the one before it.
    let log = Arc::new(file_log(&path, OnFull::Block, 64, &dropped));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let record = AccessRecord::default();
                for i in 0..500 {
                    log.log(&line_for(&record, &format!("t{t}-{i}")));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    log.shutdown();
    let mut ids = request_ids(&path);
    ids.sort();
    assert_eq!(ids.len(), 2_000);
    ids.dedup();
    assert_eq!(ids.len(), 2_000);
    assert_eq!(dropped.get(), 0);
}

#[test]
fn reopen_after_a_rename_starts_a_new_file_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let rotated = dir.path().join("access.log.1");
    let dropped = Counter::default();
    let log = file_log(&path, OnFull::Drop, C::LOG_BUFFER as usize, &dropped);
    let record = AccessRecord::default();
    log.log(&line_for(&record, "before-1"));
    log.log(&line_for(&record, "before-2"));
    std::fs::rename(&path, &rotated).unwrap();
    log.reopen();
    log.log(&line_for(&record, "after"));
    log.shutdown();
    // Lines queued before the reopen went to the renamed file; the rest (the last line, unless
    // the writer took it in the same batch) to a new file under the configured name.
    let before = request_ids(&rotated);
    assert_eq!(&before[..2], ["before-1", "before-2"]);
    assert_eq!(
        [before, request_ids(&path)].concat(),
        ["before-1", "before-2", "after"]
    );
}

#[test]
fn a_failed_write_counts_its_lines_as_dropped() {
    // /dev/full accepts the open and fails every write (ENOSPC).
    let full = Path::new("/dev/full");
    if !full.exists() {
        return;
    }
    let dropped = Counter::default();
    let log = file_log(full, OnFull::Drop, C::LOG_BUFFER as usize, &dropped);
    let record = AccessRecord::default();
    for i in 0..3 {
        log.log(&line_for(&record, &format!("req-{i}")));
    }
    log.shutdown();
    assert_eq!(dropped.get(), 3);
}
