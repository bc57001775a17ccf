//! Upstream pools under test: `Replica`, a raw HTTP/1.1 backend on 127.0.0.1:0 that counts
//! what it read and answers as told (`Mode`: its name, slowly, a chosen status, or a reset
//! after reading the whole request; per path when told, e.g. a health-check path answering
//! differently from the data path), and can be killed (its port then refuses); and
//! `PoolWorld`, the built binary in front of a pool `svc` of three replicas (plus one backend
//! as `[upstream]`) with a policy whose `/svc/**` routes name the pool.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::bin::Serving;
use super::gateway::{Options, claims};

/// How a replica answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// 200 with the replica's name as the body.
    Ok,
    /// The same after this long.
    Slow(Duration),
    /// This status, with the replica's name as the body.
    Status(u16),
    /// Reads the whole request, then closes with RST (SO_LINGER 0): a crash mid-request.
    ResetAfterRead,
}

/// One request as a replica read it.
#[derive(Debug, Clone)]
pub struct Read {
    pub method: String,
    pub target: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
}

impl Read {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Shared {
    name: String,
    mode: Mutex<Mode>,
    /// Modes for one path each (the target without its query), ahead of `mode`.
    paths: Mutex<Vec<(String, Mode)>>,
    reads: Mutex<Vec<Read>>,
    /// Requests read, health checks included.
    count: AtomicUsize,
    /// Set by `kill`, under the `reads` lock: a request that arrives after it is never read.
    killed: std::sync::atomic::AtomicBool,
}

pub struct Replica {
    pub addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    killed: tokio::sync::watch::Sender<bool>,
}

impl Replica {
    pub async fn start(name: &str) -> Replica {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Replica::listen(name, listener)
    }

    /// A replica on `addr` (a chosen loopback address and port, as DNS discovery needs several
    /// replicas on one port); `None` when the address is taken.
    pub async fn start_at(name: &str, addr: std::net::SocketAddr) -> Option<Replica> {
        let listener = TcpListener::bind(addr).await.ok()?;
        Some(Replica::listen(name, listener))
    }

    /// Replicas named `names`, the n-th on 127.0.0.n, all on one port: what DNS discovery
    /// reaches with one `discover = "NAME:PORT"` (Linux routes all of 127/8 to `lo`).
    pub async fn on_one_port(names: &[&str]) -> Vec<Replica> {
        for _ in 0..20 {
            let first = Replica::start(names[0]).await;
            let port = first.addr.port();
            let mut group = vec![first];
            for (n, name) in (2u8..).zip(&names[1..]) {
                let addr = std::net::SocketAddr::from(([127, 0, 0, n], port));
                match Replica::start_at(name, addr).await {
                    Some(replica) => group.push(replica),
                    None => break, // the port is taken there: try another one
                }
            }
            if group.len() == names.len() {
                return group;
            }
        }
        panic!(
            "no port was free on 127.0.0.1 to 127.0.0.{} in 20 tries",
            names.len()
        );
    }

    fn listen(name: &str, listener: TcpListener) -> Replica {
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            mode: Mutex::new(Mode::Ok),
            paths: Mutex::new(Vec::new()),
            reads: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
            killed: std::sync::atomic::AtomicBool::new(false),
        });
        let (killed, watch) = tokio::sync::watch::channel(false);
        let state = shared.clone();
        tokio::spawn(async move {
            let mut stop = watch.clone();
            loop {
                tokio::select! {
                    _ = stop.changed() => return, // the listener drops: connecting is refused
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { return };
                        let state = state.clone();
                        let mut stop = watch.clone();
                        tokio::spawn(async move {
                            tokio::select! {
                                _ = stop.changed() => {}
                                _ = serve(stream, state) => {}
                            }
                        });
                    }
                }
            }
        });
        Replica {
            addr,
            shared,
            killed,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    pub fn set(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// Answers requests for `path` (the target without its query) as `mode`, whatever `set`
    /// says for the others.
    pub fn set_path(&self, path: &str, mode: Mode) {
        let mut paths = self.shared.paths.lock().unwrap();
        paths.retain(|(p, _)| p != path);
        paths.push((path.to_owned(), mode));
    }

    /// Requests read so far.
    pub fn count(&self) -> usize {
        self.shared.count.load(Ordering::SeqCst)
    }

    /// Requests read so far whose target (without its query) is `path`.
    pub fn count_path(&self, path: &str) -> usize {
        self.shared
            .reads
            .lock()
            .unwrap()
            .iter()
            .filter(|read| read.target.split('?').next() == Some(path))
            .count()
    }

    /// Requests read so far whose target starts with `prefix`.
    pub fn count_under(&self, prefix: &str) -> usize {
        self.shared
            .reads
            .lock()
            .unwrap()
            .iter()
            .filter(|read| read.target.starts_with(prefix))
            .count()
    }

    pub fn reads(&self) -> Vec<Read> {
        self.shared.reads.lock().unwrap().clone()
    }

    /// Stops listening and closes every connection: from now on connecting is refused, and
    /// no request is read (or counted) after this returns, even one whose connection's task has
    /// not yet seen the signal.
    pub fn kill(&self) {
        {
            let _reads = self.shared.reads.lock().unwrap();
            self.shared.killed.store(true, Ordering::SeqCst);
        }
        let _ = self.killed.send(true);
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

fn find(buffer: &[u8], needle: &[u8]) -> Option<usize> {
    buffer.windows(needle.len()).position(|w| w == needle)
}

/// Reads more into `buffer`; `false` when the peer closed.
async fn more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buffer.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// Serves requests on one connection (keep-alive) until the peer closes.
async fn serve(mut stream: TcpStream, state: Arc<Shared>) {
    let mut buffer = Vec::new();
    loop {
        let end = loop {
            if let Some(end) = find(&buffer, b"\r\n\r\n") {
                break end;
            }
            if !more(&mut stream, &mut buffer).await {
                return;
            }
        };
        let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
        buffer.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_owned();
        let target = first.next().unwrap_or("").to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let mut body_len = 0;
        if let Some(length) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            while buffer.len() < length {
                if !more(&mut stream, &mut buffer).await {
                    return;
                }
            }
            buffer.drain(..length);
            body_len = length;
        } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                let Some(line_end) = find(&buffer, b"\r\n") else {
                    if !more(&mut stream, &mut buffer).await {
                        return;
                    }
                    continue;
                };
                let size_text = String::from_utf8_lossy(&buffer[..line_end]).into_owned();
                let size =
                    usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                        .unwrap_or(0);
                while buffer.len() < line_end + 2 + size + 2 {
                    if !more(&mut stream, &mut buffer).await {
                        return;
                    }
                }
                buffer.drain(..line_end + 2 + size + 2);
                body_len += size;
                if size == 0 {
                    break;
                }
            }
        }
        let path = target.split('?').next().unwrap_or("").to_owned();
        {
            let mut reads = state.reads.lock().unwrap();
            if state.killed.load(Ordering::SeqCst) {
                return; // killed while this request was on its way: it is dropped unread, the connection closed
            }
            reads.push(Read {
                method,
                target,
                headers,
                body_len,
            });
            state.count.fetch_add(1, Ordering::SeqCst);
        }
        let chosen = state
            .paths
            .lock()
            .unwrap()
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, m)| m.clone());
        let mode = chosen.unwrap_or_else(|| state.mode.lock().unwrap().clone());
        let status = match mode {
            Mode::Ok => 200,
            Mode::Slow(delay) => {
                tokio::time::sleep(delay).await;
                200
            }
            Mode::Status(status) => status,
            Mode::ResetAfterRead => {
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                return;
            }
        };
        let answer = format!(
            "HTTP/1.1 {status} Test\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{}",
            state.name.len(),
            state.name
        );
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The policy of the pool tests: `/svc/**` to pool `svc`, `/other/**` to `[upstream]`.
pub const POLICY: &str = r#"permissions:
  read:forecast: Read forecasts
  ingest:data: Send data
routes:
  - path: /svc/**
    methods: [GET, HEAD, PUT, DELETE]
    scopes: [read:forecast]
    upstream: svc
  - path: /svc/**
    methods: [POST]
    scopes: [ingest:data]
    upstream: svc
  - path: /other/**
    methods: [GET]
    scopes: [read:forecast]
"#;

/// An issuer, three replicas in pool `svc`, one backend as `[upstream]`, and the built
/// binary in front of them (`--log-format json`, so access lines can be read).
pub struct PoolWorld {
    pub issuer: gateway::dev::issuer::DevIssuer,
    pub replicas: Vec<Replica>,
    pub default: Replica,
    pub gateway: Serving,
    pub client: reqwest::Client,
}

impl PoolWorld {
    /// `pool_extra` goes into `[upstreams.svc]` after its `endpoints` (then sub-tables may
    /// follow), `tail` at the end of gateway.toml.
    pub async fn start(pool_extra: &str, tail: &str) -> PoolWorld {
        let mut replicas = Vec::new();
        for name in ["a", "b", "c"] {
            replicas.push(Replica::start(name).await);
        }
        let endpoints: Vec<String> = replicas
            .iter()
            .map(|r| format!("\"{}\"", r.url()))
            .collect();
        let endpoints = format!("endpoints = [{}]", endpoints.join(", "));
        PoolWorld::launch(replicas, &endpoints, pool_extra, tail).await
    }

    /// `start` with the given `replicas`, and `endpoints` (the line of `endpoints` or
    /// `discover` keys) saying where pool `svc` finds them.
    pub async fn launch(
        replicas: Vec<Replica>,
        endpoints: &str,
        pool_extra: &str,
        tail: &str,
    ) -> PoolWorld {
        let issuer = super::issuer::spawn_issuer().await;
        let default = Replica::start("default").await;
        let mut options = Options::new(&issuer.issuer_url(), &issuer.jwks_url(), &default.url());
        options.policy = POLICY.to_owned();
        options.tail = format!(
            "{tail}\n[upstreams.svc]\n{endpoints}\nconnect_timeout = \"1s\"\nrequest_timeout = \"2s\"\n{pool_extra}\n"
        );
        let gateway = Serving::options(&options, &["--log-format", "json"], &[]);
        gateway.wait_ready().await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(64)
            .build()
            .unwrap();
        PoolWorld {
            issuer,
            replicas,
            default,
            gateway,
            client,
        }
    }

    pub fn token(&self, scope: &str) -> String {
        self.issuer.mint(&claims(&self.issuer.issuer_url(), scope))
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.gateway.url(path))
            .bearer_auth(self.token("read:forecast"))
            .send()
            .await
            .unwrap()
    }

    /// `GET path` as `get` does, as a future that owns what it needs (to spawn it, so several
    /// requests are under way at once); it yields the status and the body.
    pub fn get_owned(
        &self,
        path: &str,
    ) -> impl std::future::Future<Output = (reqwest::StatusCode, String)> + Send + 'static {
        let request = self
            .client
            .get(self.gateway.url(path))
            .bearer_auth(self.token("read:forecast"));
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    }

    pub async fn post(&self, path: &str, body: &'static str) -> reqwest::Response {
        self.client
            .post(self.gateway.url(path))
            .bearer_auth(self.token("ingest:data"))
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// `GET path` as `read:forecast` with `X-Request-Id: id`, so its access line can be read
    /// (`gateway.request_line(id)`).
    pub async fn get_with_id(&self, path: &str, id: &str) -> reqwest::Response {
        let request = self.client.get(self.gateway.url(path));
        let request = request.bearer_auth(self.token("read:forecast"));
        request.header("x-request-id", id).send().await.unwrap()
    }

    /// `GET path` as `read:forecast`: the status and the body (a replica's name, or the
    /// gateway's JSON error).
    pub async fn answer(&self, path: &str) -> (u16, String) {
        let response = self.get(path).await;
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// `GET /svc/forecast` again and again until `done` holds after an answer, within
    /// `deadline` (an ejection time passing, say); returns that answer.
    pub async fn answer_until(
        &self,
        what: &str,
        deadline: Duration,
        done: impl Fn() -> bool,
    ) -> (u16, String) {
        super::wait::poll(what, deadline, || async {
            let answer = self.answer("/svc/forecast").await;
            done().then_some(answer)
        })
        .await
    }

    /// The gateway's next "endpoint ejected" warning (its `endpoint`, `seconds`, `upstream`).
    pub fn ejected_line(&self) -> serde_json::Value {
        self.gateway.next_line("an endpoint ejected", |l| {
            l["message"] == "endpoint ejected"
        })
    }

    /// Requests each replica read, in order a, b, c.
    pub fn counts(&self) -> Vec<usize> {
        self.replicas.iter().map(Replica::count).collect()
    }

    /// Requests under `/svc/` each replica read (health checks left out), in order a, b, c.
    pub fn data_counts(&self) -> Vec<usize> {
        self.replicas
            .iter()
            .map(|r| r.count_under("/svc/"))
            .collect()
    }
}
