//! The deployment examples in docs/deploy/ stay loadable and keep their security promises: the
//! Kubernetes ConfigMap's gateway.toml and policy load with the real loaders, its policy is the
//! repository's ClientCo policy, the backend container binds loopback only and the Service never
//! exposes the backend or the admin port; the edge gateway.toml loads once its TLS files exist.
//! Both sign assertions with a key mounted from a Secret into the gateway alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde::Deserialize;
use serde_norway::Value;

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn kubernetes_documents() -> Vec<Value> {
    let text = std::fs::read_to_string(repo("docs/deploy/kubernetes-sidecar.yaml")).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).unwrap())
        .collect()
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
    std::fs::write(
        secret.join("assertion-key.pem"),
        gateway::assertion::keys::generate_pem(gateway::assertion::Algorithm::EdDsa).unwrap(),
    )
    .unwrap();
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
/// tls/, an assertion key under secrets/, the ClientCo policy, and `docs/deploy/<example>`'s
/// gateway.toml with its container paths pointed there; the config as it loads.
fn mounted_config(example: &str) -> (tempfile::TempDir, gateway::config::Config) {
    use rcgen::{CertificateParams, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["api.saasco.example".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::create_dir(file("tls")).unwrap();
    std::fs::create_dir(file("secrets")).unwrap();
    let assertion_key =
        gateway::assertion::keys::generate_pem(gateway::assertion::Algorithm::EdDsa).unwrap();
    std::fs::write(file("secrets/assertion_key"), assertion_key).unwrap();
    std::fs::write(file("tls/cert.pem"), cert.pem()).unwrap();
    std::fs::write(file("tls/key.pem"), key.serialize_pem()).unwrap();
    std::fs::copy(repo("policies/clientco.yaml"), file("policy.yaml")).unwrap();
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
    let (_dir, config) = mounted_config("edge");
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
    let (_dir, config) = mounted_config("replicas");
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
