//! A real DNS server per test: Debian's `dnsmasq` on 127.0.0.1, answering only the records the
//! test gives it (no upstream servers, no /etc/hosts: `--no-resolv --no-hosts`, and
//! `--local=/test/` so any other name under `.test` is NXDOMAIN), killed when dropped.
//!
//! The records live in a hosts file (`--addn-hosts`); `set` rewrites it and sends SIGHUP, on
//! which dnsmasq re-reads it, and returns once dnsmasq answers with the new records. dnsmasq
//! cannot pick its own port and report it, so the port is chosen the race-tolerant way (bind
//! UDP 127.0.0.1:0, note the port, close it, start dnsmasq on it) and the start counts as done
//! only once a real query gets an answer (a fixed record `ready.test`); if dnsmasq exited
//! instead (the port was taken in between) the whole start is tried again on a new port. If
//! dnsmasq is not installed the test fails and says how to get it.
//!
//! Included with `#[path]` by the test files that need it (it uses `crate::support::wait`).

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

use crate::support::wait;

const DNSMASQ: &str = "/usr/sbin/dnsmasq";
/// Answered from the start whatever the records: the readiness probe.
const READY_NAME: &str = "ready.test";
const READY_ADDRESS: &str = "127.0.0.254";

pub struct Dns {
    /// Where dnsmasq answers (UDP and TCP): the gateway's `dns_server`.
    pub addr: SocketAddr,
    child: Option<Child>,
    hosts: PathBuf,
    /// Every name `set` was ever given, so it can check that removed ones are gone.
    names: std::sync::Mutex<Vec<String>>,
    _dir: tempfile::TempDir,
}

/// Fails the test with the way to install dnsmasq, rather than skipping silently.
fn binary() -> &'static str {
    assert!(
        std::path::Path::new(DNSMASQ).exists(),
        "{DNSMASQ} is not installed: run ./scripts/test (it installs it with apt-get), or \
         `apt-get install dnsmasq-base`"
    );
    DNSMASQ
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("an ephemeral UDP port")
        .port()
}

fn hosts_text(records: &[(&str, IpAddr)]) -> String {
    records
        .iter()
        .map(|(name, ip)| format!("{ip} {name}\n"))
        .collect()
}

impl Dns {
    /// dnsmasq answering `records` (name, address), ready for queries.
    pub async fn start(records: &[(&str, IpAddr)]) -> Dns {
        let dir = tempfile::tempdir().expect("temp dir");
        // dnsmasq started as root re-reads the file as `nobody` after SIGHUP.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("open the folder to dnsmasq");
        let hosts = dir.path().join("hosts");
        std::fs::write(&hosts, hosts_text(records)).expect("write the hosts file");
        std::fs::set_permissions(&hosts, std::fs::Permissions::from_mode(0o644))
            .expect("open the hosts file to dnsmasq");
        let mut dns = Dns {
            addr: "127.0.0.1:0".parse().expect("an address"),
            child: None,
            hosts,
            names: std::sync::Mutex::new(records.iter().map(|(n, _)| n.to_string()).collect()),
            _dir: dir,
        };
        for _ in 0..20 {
            dns.addr = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
            if dns.spawn_and_wait().await {
                return dns;
            }
        }
        panic!("dnsmasq did not start on any of 20 ephemeral ports");
    }

    /// dnsmasq on `self.addr`, answering from the hosts file and `ready.test` only.
    fn command(&self) -> Command {
        let mut command = Command::new(binary());
        command.args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--local=/test/",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
        ]);
        let pid_file = self.hosts.with_file_name("dnsmasq.pid");
        command.args([
            format!("--port={}", self.addr.port()),
            format!("--addn-hosts={}", self.hosts.display()),
            format!("--host-record={READY_NAME},{READY_ADDRESS}"),
            format!("--pid-file={}", pid_file.display()),
        ]);
        command.stdout(Stdio::null()).stderr(Stdio::null());
        command
    }

    /// Starts dnsmasq on `self.addr`; true once it answers, false if it exited (port taken).
    async fn spawn_and_wait(&mut self) -> bool {
        self.child = Some(self.command().spawn().expect("start dnsmasq"));
        let resolver = self.resolver();
        let ready: IpAddr = READY_ADDRESS.parse().expect("an address");
        let answered = wait::poll("dnsmasq to answer", wait::DEADLINE, || {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
                .is_some();
            let resolver = resolver.clone();
            async move {
                if exited {
                    return Some(false);
                }
                lookup(&resolver, READY_NAME)
                    .await
                    .contains(&ready)
                    .then_some(true)
            }
        })
        .await;
        if !answered {
            self.child = None;
        }
        answered
    }

    /// Makes `records` the server's whole set (names left out stop resolving), and returns
    /// once dnsmasq answers accordingly for every name it was ever given.
    pub async fn set(&self, records: &[(&str, IpAddr)]) {
        std::fs::write(&self.hosts, hosts_text(records)).expect("write the hosts file");
        let pid = self.child.as_ref().expect("dnsmasq is running").id();
        let status = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -HUP dnsmasq failed");
        let names = {
            let mut names = self.names.lock().unwrap();
            for (name, _) in records {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_string());
                }
            }
            names.clone()
        };
        let resolver = self.resolver();
        for name in names {
            let mut expected: Vec<IpAddr> = records
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, ip)| *ip)
                .collect();
            expected.sort();
            wait::poll(
                &format!("dnsmasq to answer {name} with {expected:?}"),
                wait::DEADLINE,
                || {
                    let (resolver, name, expected) =
                        (resolver.clone(), name.clone(), expected.clone());
                    async move { (lookup(&resolver, &name).await == expected).then_some(()) }
                },
            )
            .await;
        }
    }

    /// Kills dnsmasq (SIGKILL: an outage); from now on its port answers nothing.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A resolver asking this server only, without a cache.
    fn resolver(&self) -> TokioResolver {
        let mut server = NameServerConfig::udp_and_tcp(self.addr.ip());
        for connection in &mut server.connections {
            connection.port = self.addr.port();
        }
        let mut builder = TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(vec![server]),
            TokioRuntimeProvider::default(),
        );
        let options = builder.options_mut();
        options.use_hosts_file = ResolveHosts::Never;
        options.cache_size = 0;
        options.timeout = Duration::from_millis(500);
        options.attempts = 1;
        builder.build().expect("a resolver")
    }
}

/// The addresses `name` has (sorted; empty for NXDOMAIN or no answer).
async fn lookup(resolver: &TokioResolver, name: &str) -> Vec<IpAddr> {
    let mut found: Vec<IpAddr> = match resolver.lookup_ip(name).await {
        Ok(lookup) => lookup.iter().collect(),
        Err(_) => Vec::new(),
    };
    found.sort();
    found.dedup();
    found
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.kill();
    }
}
