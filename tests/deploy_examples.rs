//! The deployment examples in docs/deploy/ stay loadable and keep their security promises: the
//! Kubernetes ConfigMap's gateway.toml and policy load with the real loaders, its policy is the
//! repository's ClientCo policy, the backend container binds loopback only and the Service never
//! exposes the backend or the admin port; the edge gateway.toml loads once its TLS files exist.
//! Both sign assertions with a key mounted from a Secret into the gateway alone. Every example's
//! gateway.toml passes `gateway check`; in the edge layout with pools (edge-pools/, and
//! kubernetes-edge.yaml with headless Services) each pool's endpoints are the replicas of one
//! service, which expects that pool's assertion audience.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use serde::Deserialize;
use serde_norway::Value;

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn kubernetes_documents() -> Vec<Value> {
    documents("docs/deploy/kubernetes-sidecar.yaml")
}

/// Every YAML document of a manifest in the repository.
fn documents(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(repo(path)).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).unwrap())
        .collect()
}

/// `gateway check --offline` (the real binary) on the folder's gateway.toml and its policy:
/// no problem at all.
fn gateway_check(folder: &Path) {
    let run = support::bin::run_in(
        folder,
        &["check", "--offline", "--config", "gateway.toml"],
        &[],
    );
    assert_eq!(run.code, 0, "gateway check failed: {run:?}");
}

/// A self-signed certificate for the edge's name and its key, as PEM files.
fn write_tls(cert_file: &Path, key_file: &Path) {
    use rcgen::{CertificateParams, KeyPair};
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["api.saasco.example".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(cert_file, cert.pem()).unwrap();
    std::fs::write(key_file, key.serialize_pem()).unwrap();
}

fn assertion_key() -> String {
    gateway::assertion::keys::generate_pem(gateway::assertion::Algorithm::EdDsa).unwrap()
}

fn of_kind<'a>(documents: &'a [Value], kind: &str) -> &'a Value {
    documents
        .iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind} in the manifest"))
}

/// The ConfigMap's files in a folder, as the pod mounts them: gateway.toml and policy.yaml, and
/// the assertion Secret's mount (`/etc/gateway-assertion/`) as a folder beside them holding a
/// fresh key.
fn config_map_folder(data: &Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let policy_text = data["policy.yaml"].as_str().unwrap();
    std::fs::write(dir.path().join("policy.yaml"), policy_text).unwrap();
    let mount = "/etc/gateway-assertion/";
    let toml = data["gateway.toml"].as_str().unwrap();
    assert!(
        toml.contains(mount),
        "the ConfigMap's key_file is in the Secret's mount"
    );
    let secret = dir.path().join("secret");
    std::fs::create_dir(&secret).unwrap();
    std::fs::write(secret.join("assertion-key.pem"), assertion_key()).unwrap();
    std::fs::write(
        dir.path().join("gateway.toml"),
        toml.replace(mount, &format!("{}/", secret.display())),
    )
    .unwrap();
    dir
}

#[test]
fn kubernetes_sidecar_config_loads_and_its_policy_is_the_repository_policy() {
    let documents = kubernetes_documents();
    let data = &of_kind(&documents, "ConfigMap")["data"];
    let policy_text = data["policy.yaml"].as_str().unwrap();
    let dir = config_map_folder(data);
    let config = gateway::config::Config::load(&dir.path().join("gateway.toml"))
        .unwrap_or_else(|d| panic!("the ConfigMap's gateway.toml does not load:\n{d}"));
    gateway::policy::Policy::load(&config.policy.file)
        .unwrap_or_else(|d| panic!("the ConfigMap's policy does not load:\n{d}"));
    assert_eq!(
        config
            .upstream
            .as_ref()
            .and_then(|u| u.urls().first()?.host()),
        Some("127.0.0.1"),
        "a sidecar reaches its backend over the pod's loopback"
    );
    assert!(
        config.forward.assertion.is_some(),
        "the sidecar signs assertions"
    );

    let shipped: Value =
        serde_norway::from_str(&std::fs::read_to_string(repo("policies/clientco.yaml")).unwrap())
            .unwrap();
    let in_configmap: Value = serde_norway::from_str(policy_text).unwrap();
    assert_eq!(
        in_configmap, shipped,
        "docs/deploy/kubernetes-sidecar.yaml's policy.yaml has drifted from policies/clientco.yaml"
    );
}

#[test]
fn kubernetes_sidecar_exposes_only_the_gateway() {
    let documents = kubernetes_documents();
    let pod = &of_kind(&documents, "Deployment")["spec"]["template"]["spec"];
    let containers = pod["containers"].as_sequence().unwrap();
    let api = containers
        .iter()
        .find(|c| c["name"].as_str() == Some("api"))
        .unwrap();
    let command: Vec<&str> = api["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let host = command
        .windows(2)
        .find(|w| w[0] == "--host")
        .map(|w| w[1])
        .expect("the backend names its --host");
    assert_eq!(
        host, "127.0.0.1",
        "the backend must not be reachable but through the gateway"
    );
    assert!(
        api.get("ports").is_none(),
        "the backend container declares no port"
    );

    let service_ports = of_kind(&documents, "Service")["spec"]["ports"]
        .as_sequence()
        .unwrap();
    let targets: Vec<&str> = service_ports
        .iter()
        .map(|p| p["targetPort"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        ["http"],
        "the Service exposes the gateway's data plane only"
    );
    let gateway = containers
        .iter()
        .find(|c| c["name"].as_str() == Some("gateway"))
        .unwrap();
    let http = gateway["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some("http"))
        .unwrap();
    assert_eq!(http["containerPort"].as_u64(), Some(8080));

    // The signing key: a Secret, mounted into the gateway container and nowhere else.
    let secret_volume = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v.get("secret").is_some())
        .expect("the assertion key comes from a Secret");
    let name = secret_volume["name"].as_str().unwrap();
    let mounts = |container: &Value| -> Vec<String> {
        container["volumeMounts"]
            .as_sequence()
            .map(|m| {
                m.iter()
                    .filter(|m| m["name"].as_str() == Some(name))
                    .map(|m| m["mountPath"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(mounts(gateway), ["/etc/gateway-assertion"]);
    assert!(mounts(api).is_empty(), "the app never sees the private key");
}

/// A folder standing in for the container's /etc/gateway: a self-signed certificate under
/// tls/, an assertion key under secrets/, the example's own policy.yaml (the ClientCo policy
/// when it has none), and `docs/deploy/<example>`'s gateway.toml with its container paths
/// pointed there; the config as it loads.
fn mounted_config(example: &str) -> (tempfile::TempDir, gateway::config::Config) {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name);
    std::fs::create_dir(file("tls")).unwrap();
    std::fs::create_dir(file("secrets")).unwrap();
    std::fs::write(file("secrets/assertion_key"), assertion_key()).unwrap();
    write_tls(&file("tls/cert.pem"), &file("tls/key.pem"));
    let own_policy = repo(&format!("docs/deploy/{example}/policy.yaml"));
    let policy = if own_policy.exists() {
        own_policy
    } else {
        repo("policies/clientco.yaml")
    };
    std::fs::copy(policy, file("policy.yaml")).unwrap();
    // The container mounts everything under /etc/gateway; here that folder is `dir`.
    let source = format!("docs/deploy/{example}/gateway.toml");
    let folder = dir.path().display();
    let text = std::fs::read_to_string(repo(&source))
        .unwrap()
        .replace("/etc/gateway/", &format!("{folder}/"))
        .replace("/run/secrets/", &format!("{folder}/secrets/"));
    std::fs::write(file("gateway.toml"), text).unwrap();
    let config = gateway::config::Config::load(&file("gateway.toml"))
        .unwrap_or_else(|d| panic!("{source} does not load:\n{d}"));
    (dir, config)
}

#[test]
fn edge_config_loads_once_its_tls_files_are_mounted() {
    let (dir, config) = mounted_config("edge");
    gateway_check(dir.path());
    assert!(config.server.tls.is_some(), "the edge terminates TLS");
    assert!(
        config.forward.assertion.is_some(),
        "the edge signs assertions"
    );
}

#[test]
fn kubernetes_replicas_share_state_on_a_redis_only_the_gateways_reach() {
    let documents = kubernetes_documents();
    let data = &of_kind(&documents, "ConfigMap")["data"];
    let dir = config_map_folder(data);
    let config = gateway::config::Config::load(&dir.path().join("gateway.toml")).unwrap();
    let redis = config.state.redis.expect("[state] redis in the ConfigMap");
    assert_eq!(redis.to_string(), "redis://saasco-gateway-redis:6379/0");

    // The password reaches the gateway from the Secret, never from the ConfigMap.
    let pod = &of_kind(&documents, "Deployment")["spec"]["template"]["spec"];
    let gateway = pod["containers"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str() == Some("gateway"))
        .unwrap();
    let env = gateway["env"].as_sequence().unwrap();
    let state = env
        .iter()
        .find(|e| e["name"].as_str() == Some("GATEWAY_STATE_REDIS"))
        .expect("GATEWAY_STATE_REDIS from the Secret");
    assert_eq!(
        state["valueFrom"]["secretKeyRef"]["name"].as_str(),
        Some("saasco-gateway-redis")
    );

    let service = documents
        .iter()
        .find(|d| {
            d["kind"].as_str() == Some("Service") && d["metadata"]["name"] == "saasco-gateway-redis"
        })
        .expect("a Service for Redis");
    assert_eq!(service["spec"]["ports"][0]["port"].as_u64(), Some(6379));
    let policy = of_kind(&documents, "NetworkPolicy");
    assert_eq!(
        policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app"].as_str(),
        Some("saasco-api"),
        "only the gateway pods reach Redis"
    );
}

#[test]
fn replicated_edge_config_loads_and_every_replica_shares_one_redis() {
    let (dir, config) = mounted_config("replicas");
    gateway_check(dir.path());
    assert!(config.state.redis.is_some());
    assert_eq!(
        config.binding.public_url.as_deref(),
        Some("https://api.saasco.example"),
        "every replica checks DPoP htu against one origin"
    );

    let compose: Value = serde_norway::from_str(
        &std::fs::read_to_string(repo("docs/deploy/replicas/compose.yaml")).unwrap(),
    )
    .unwrap();
    let services = compose["services"].as_mapping().unwrap();
    let haproxy = std::fs::read_to_string(repo("docs/deploy/replicas/haproxy.cfg")).unwrap();
    let gateways: Vec<&str> = services
        .keys()
        .filter_map(|k| k.as_str())
        .filter(|k| k.starts_with("gateway"))
        .collect();
    assert!(gateways.len() >= 2, "{gateways:?}");
    for name in &gateways {
        let gateway = &services[*name];
        assert!(
            gateway["environment"]["GATEWAY_STATE_REDIS"]
                .as_str()
                .is_some_and(|url| url.contains("@redis:6379")),
            "{name} shares the one Redis"
        );
        assert!(
            gateway.get("ports").is_none(),
            "{name} is reached through the load balancer only"
        );
        assert!(
            haproxy.contains(&format!("server {name} {name}:8443")),
            "haproxy.cfg balances over {name}"
        );
    }
    assert!(
        services["redis"].get("ports").is_none(),
        "Redis is never published"
    );
    let published: Vec<&str> = services
        .iter()
        .filter(|(_, s)| s.get("ports").is_some())
        .filter_map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(published, ["lb"], "the load balancer is the only way in");
}

/// The pools' names in name order, each with its `assertion_audience`.
fn audiences(config: &gateway::config::Config) -> Vec<(&str, &str)> {
    config
        .upstreams
        .iter()
        .map(|pool| {
            let audience = pool.assertion_audience.as_deref();
            let audience = audience.unwrap_or_else(|| panic!("pool {} has no audience", pool.name));
            (pool.name.as_str(), audience)
        })
        .collect()
}

#[test]
fn edge_pools_check_and_each_pool_lists_the_replicas_of_one_service_expecting_its_audience() {
    let (dir, config) = mounted_config("edge-pools");
    gateway_check(dir.path());
    assert!(config.upstream.is_none(), "every route names its pool");
    assert_eq!(
        audiences(&config),
        [
            ("forecast", "forecast-service"),
            ("ingest", "ingest-service"),
            ("inventory", "inventory-service")
        ]
    );

    let mut compose: Value = serde_norway::from_str(
        &std::fs::read_to_string(repo("docs/deploy/edge-pools/compose.yaml")).unwrap(),
    )
    .unwrap();
    compose.apply_merge().unwrap();
    let services = compose["services"].as_mapping().unwrap();
    let replicas = |pool: &str| -> Vec<String> {
        let prefix = format!("{pool}-");
        let mut names: Vec<String> = services
            .keys()
            .filter_map(|k| k.as_str())
            .filter(|k| k.starts_with(&prefix))
            .map(str::to_owned)
            .collect();
        names.sort();
        names
    };
    for pool in &config.upstreams {
        let hosts: Vec<String> = pool
            .urls()
            .iter()
            .map(|u| u.host().unwrap().to_owned())
            .collect();
        assert!(hosts.len() >= 2, "{}: several replicas", pool.name);
        assert_eq!(
            hosts,
            replicas(&pool.name),
            "pool {} lists its service's replicas",
            pool.name
        );
        for host in &hosts {
            let service = &services[host.as_str()];
            assert_eq!(
                service["environment"]["GATEWAY_ASSERTION_AUDIENCE"].as_str(),
                pool.assertion_audience.as_deref(),
                "{host} accepts the assertions of its own pool only"
            );
            assert_eq!(service["networks"][0].as_str(), Some("internal"), "{host}");
            assert!(service.get("ports").is_none(), "{host} is never published");
        }
    }
    let published: Vec<&str> = services
        .iter()
        .filter(|(_, s)| s.get("ports").is_some())
        .filter_map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        published,
        ["gateway"],
        "the gateway tier is the only way in"
    );
}

#[test]
fn kubernetes_edge_pools_discover_headless_services_whose_pods_expect_their_audience() {
    let documents = documents("docs/deploy/kubernetes-edge.yaml");
    let data = &of_kind(&documents, "ConfigMap")["data"];
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name);
    std::fs::write(file("policy.yaml"), data["policy.yaml"].as_str().unwrap()).unwrap();
    std::fs::write(file("assertion-key.pem"), assertion_key()).unwrap();
    write_tls(&file("tls.crt"), &file("tls.key"));
    let folder = format!("{}/", dir.path().display());
    let toml = data["gateway.toml"]
        .as_str()
        .unwrap()
        .replace("/etc/gateway-assertion/", &folder)
        .replace("/etc/gateway-tls/", &folder);
    std::fs::write(file("gateway.toml"), toml).unwrap();
    gateway_check(dir.path());
    let config = gateway::config::Config::load(&file("gateway.toml"))
        .unwrap_or_else(|d| panic!("the ConfigMap's gateway.toml does not load:\n{d}"));
    assert!(config.upstream.is_none(), "every route names its pool");

    let named = |kind: &str, name: &str| {
        documents
            .iter()
            .find(|d| d["kind"].as_str() == Some(kind) && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in the manifest"))
    };
    assert_eq!(audiences(&config).len(), 3);
    for (pool, audience) in audiences(&config) {
        let upstream = config.upstreams.iter().find(|p| p.name == pool).unwrap();
        let gateway::config::Endpoints::Discover(discover) = &upstream.endpoints else {
            panic!("pool {pool} discovers its endpoints")
        };
        let service_name = discover
            .host
            .strip_suffix(".saasco.svc.cluster.local")
            .unwrap_or_else(|| panic!("{pool}: a Service of namespace saasco"));
        let service = named("Service", service_name);
        assert_eq!(
            service["spec"]["clusterIP"].as_str(),
            Some("None"),
            "{service_name}: headless, so the gateway sees every pod and balances requests"
        );
        assert_eq!(service["metadata"]["namespace"].as_str(), Some("saasco"));
        assert_eq!(
            service["spec"]["ports"][0]["port"].as_u64(),
            Some(u64::from(discover.port))
        );
        let deployment = named("Deployment", service_name);
        assert!(deployment["spec"]["replicas"].as_u64().unwrap() >= 2);
        assert_eq!(
            deployment["spec"]["template"]["metadata"]["labels"], service["spec"]["selector"],
            "{service_name}: the Service selects the Deployment's pods"
        );
        let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_sequence()
            .unwrap();
        let expected = env
            .iter()
            .find(|e| e["name"].as_str() == Some("GATEWAY_ASSERTION_AUDIENCE"))
            .unwrap_or_else(|| panic!("{service_name} verifies the assertion's audience"));
        assert_eq!(expected["value"].as_str(), Some(audience));
    }

    let shipped: Value = serde_norway::from_str(
        &std::fs::read_to_string(repo("docs/deploy/edge-pools/policy.yaml")).unwrap(),
    )
    .unwrap();
    let in_configmap: Value =
        serde_norway::from_str(data["policy.yaml"].as_str().unwrap()).unwrap();
    assert_eq!(
        in_configmap, shipped,
        "the ConfigMap's policy has drifted from edge-pools/"
    );
}
