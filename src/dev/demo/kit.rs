//! ClientCo's kit against the demo: the environment file that lets `clientco/sample_requests.http`
//! run unchanged with httpyac, and the command that runs it.
//!
//! The kit's public environments live in `clientco/http-client.env.json` (`demo`, `prod`). What
//! only a running demo knows (its ports and freshly generated secrets) goes into
//! `http-client.private.env.json` in the demo's private folder: httpyac reads both files of
//! the folder named by `HTTPYAC_ENV` as well as those beside the `.http` file, and values from a
//! private file win over the public ones of the same environment. So nothing secret is ever
//! written into the repository, and the demo never touches ClientCo's own private file.

use std::path::{Path, PathBuf};

use super::{AUDIENCE, DemoClient, DemoError};

/// The file name httpyac (and JetBrains' HTTP client) read private variables from.
pub const ENV_FILE_NAME: &str = "http-client.private.env.json";

/// The httpyac release the printed command and `scripts/test` use; keep the two in step
/// (`scripts/test` fails when the demo prints another version).
pub const HTTPYAC_VERSION: &str = "6.16.7";

/// The kit's request file, relative to the repository root.
pub const SAMPLE_REQUESTS: &str = "clientco/sample_requests.http";

/// The environment the demo fills in.
pub const ENVIRONMENT: &str = "demo";

/// The `demo` environment for `api_url` (the gateway) and `token_url` (the development
/// issuer): every variable `sample_requests.http` uses.
pub fn environment(api_url: &str, token_url: &str, clients: &[DemoClient]) -> serde_json::Value {
    let secret_of = |client_id: &str| {
        clients
            .iter()
            .find(|c| c.credentials.client_id == client_id)
            .map(|c| c.credentials.client_secret.clone())
            .unwrap_or_default()
    };
    serde_json::json!({
        ENVIRONMENT: {
            "_comment": "gateway demo: valid while this demo runs; see clientco/README.md",
            "api_url": api_url,
            "token_url": token_url,
            "audience": AUDIENCE,
            "client_id": "clientco",
            "client_secret": secret_of("clientco"),
            "readonly_client_id": "clientco-readonly",
            "readonly_client_secret": secret_of("clientco-readonly"),
        }
    })
}

/// Writes the environment file into the demo's private `dir` (mode 0600) and returns its path.
pub fn write(
    dir: &Path,
    api_url: &str,
    token_url: &str,
    clients: &[DemoClient],
) -> Result<PathBuf, DemoError> {
    let path = dir.join(ENV_FILE_NAME);
    let json = environment(api_url, token_url, clients);
    super::write_private(&path, &super::pretty(&json))?;
    Ok(path)
}

/// The shell command that runs the kit against the demo whose environment file is `env_file`,
/// from the repository root.
pub fn httpyac_command(env_file: &Path) -> String {
    let folder = env_file
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    format!(
        "HTTPYAC_ENV={folder} npx --yes httpyac@{HTTPYAC_VERSION} send {SAMPLE_REQUESTS} --all --env {ENVIRONMENT}"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    #[test]
    fn the_command_points_httpyac_at_the_folder_holding_the_file() {
        let command = httpyac_command(Path::new(
            "/tmp/gateway-demo-1-0/http-client.private.env.json",
        ));
        assert_eq!(
            command,
            format!(
                "HTTPYAC_ENV=/tmp/gateway-demo-1-0 npx --yes httpyac@{HTTPYAC_VERSION} send \
                 clientco/sample_requests.http --all --env demo"
            )
        );
    }

    #[test]
    fn the_environment_holds_every_variable_the_kit_uses() {
        let kit = include_str!("../../../clientco/sample_requests.http");
        let env = environment("http://127.0.0.1:1", "http://127.0.0.1:2/oauth/token", &[]);
        let demo = env[ENVIRONMENT].as_object().expect("a demo environment");
        // Every {{name}} the kit uses is in the demo environment or is a named response.
        let mut rest = kit;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let end = after.find("}}").expect("an unclosed {{ in the kit");
            let name = after[..end].trim();
            let root = name.split('.').next().unwrap_or(name);
            assert!(
                demo.contains_key(name) || kit.contains(&format!("# @name {root}")),
                "sample_requests.http uses {{{{{name}}}}}, which the demo environment lacks"
            );
            rest = &after[end + 2..];
        }
    }
}
