//! A real `redis-server` per test, on 127.0.0.1, killed when dropped (no mock).
//!
//! Redis cannot be told to pick its own port and report it, so the port is chosen the usual
//! race-tolerant way: bind 127.0.0.1:0, note the port, close it, start `redis-server --port` on
//! it, and wait until it either answers `PING` (ready) or exits (someone took the port in
//! between: "Address already in use"), in which case it is tried again on a new port. A restart
//! (after `kill`) reuses the port, retrying while it is still busy. The server runs in a
//! temporary folder, never persists (`--save ""`), and allows `DEBUG SLEEP` for the slow-Redis
//! tests. If `redis-server` is not installed the test fails and says how to get it.
//!
//! Included with `#[path]` by the test files that need it (it uses `crate::support::wait`).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::wait;

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

/// Fails the test with the way to install Redis, rather than skipping silently.
fn binary() -> String {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "redis-server is not installed: run ./scripts/test (it installs it with apt-get), or `apt-get install redis-server`"
    );
    "redis-server".to_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("an ephemeral port")
        .port()
}

impl RedisServer {
    /// A fresh server on a free port, answering `PING`.
    pub async fn start() -> RedisServer {
        let mut server = RedisServer {
            port: 0,
            child: None,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        for _ in 0..20 {
            server.port = free_port();
            if server.spawn_and_wait().await {
                return server;
            }
        }
        panic!("redis-server did not start on any of 20 ephemeral ports");
    }

    /// Starts the process on `self.port`; true once it answers, false if it exited (port busy).
    async fn spawn_and_wait(&mut self) -> bool {
        let child = Command::new(binary())
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "yes",
                "--daemonize",
                "no",
                "--dir",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let url = self.url();
        let answered = wait::poll("redis-server to answer PING", wait::DEADLINE, || {
            let url = url.clone();
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
                .is_some();
            async move {
                if exited {
                    return Some(false);
                }
                ping(&url).await.then_some(true)
            }
        })
        .await;
        if !answered {
            self.child = None;
        }
        answered
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (SIGKILL: an outage, not a shutdown) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty: nothing persisted), retrying while the port is
    /// not free yet.
    pub async fn restart(&mut self) {
        self.kill();
        let port = self.port;
        wait::poll(
            "redis-server to restart on its port",
            wait::DEADLINE,
            || {
                let started = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
                std::future::ready(started.then_some(()))
            },
        )
        .await;
        assert!(
            self.spawn_and_wait().await,
            "redis-server could not restart on port {port}"
        );
    }

    /// One command on a fresh connection.
    pub async fn query(&self, args: &[&str]) -> redis::Value {
        let client = redis::Client::open(self.url()).expect("redis url");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect to redis");
        let mut command = redis::cmd(args[0]);
        for arg in &args[1..] {
            command.arg(*arg);
        }
        command
            .query_async::<redis::Value>(&mut connection)
            .await
            .expect("redis command")
    }

    /// `DEBUG SLEEP seconds` in the background (it blocks the whole server); returns once the
    /// server has stopped answering, with the task that ends when the sleep does.
    pub async fn sleep(&self, seconds: u32) -> tokio::task::JoinHandle<()> {
        let url = self.url();
        let task = tokio::spawn(async move {
            let client = redis::Client::open(url).expect("redis url");
            let mut connection = client
                .get_multiplexed_async_connection_with_config(
                    &redis::AsyncConnectionConfig::new().set_response_timeout(None),
                )
                .await
                .expect("connect to redis");
            let _: redis::RedisResult<()> = redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg(seconds)
                .query_async(&mut connection)
                .await;
        });
        let url = self.url();
        wait::poll("redis-server to be asleep", wait::DEADLINE, || {
            let url = url.clone();
            async move {
                let answered = tokio::time::timeout(Duration::from_millis(100), ping(&url)).await;
                (!matches!(answered, Ok(true))).then_some(())
            }
        })
        .await;
        task
    }
}

async fn ping(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
        return false;
    };
    redis::cmd("PING")
        .query_async::<String>(&mut connection)
        .await
        .is_ok_and(|pong| pong == "PONG")
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
