//! What a new operator meets in the first hour (issue 13): plain logs in files and pipes, a
//! `gateway check` that warns about the placeholder issuer and says why keys cannot be fetched,
//! `explain` agreeing with the data plane when keys cannot load, YAML and config errors that
//! point once and say how to fix them, and `--help` that describes every argument.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use support::bin::Project;
use support::issuer::spawn_issuer;
use support::world::World;

/// A socket that is bound but never listens: every connection to it is refused at once, and no
/// other process can take its port while the test holds it.
fn refusing_address() -> (tokio::net::TcpSocket, std::net::SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// A project whose issuer is real-looking but whose JWKS is at `jwks_url`.
fn project_with_jwks(jwks_url: &str) -> Project {
    project_with_issuer("https://saasco.eu.auth0.com/", jwks_url)
}

/// The ClientCo project trusting `issuer`, whose keys are at `jwks_url`.
fn project_with_issuer(issuer: &str, jwks_url: &str) -> Project {
    let project = Project::clientco();
    project.edit(
        "gateway.toml",
        "issuer = \"https://YOUR_TENANT.auth0.com/\"",
        &format!("issuer = \"{issuer}\"\njwks_url = \"{jwks_url}\""),
    );
    project
}

#[tokio::test]
async fn a_log_written_to_a_pipe_has_no_colour_codes() {
    let (_held, addr) = refusing_address();
    let project = project_with_jwks(&format!("http://{addr}/jwks.json"));
    project.edits(&[
        (
            "gateway.toml",
            "listen = \"0.0.0.0:8080\"",
            "listen = \"127.0.0.1:0\"",
        ),
        (
            "gateway.toml",
            "listen = \"127.0.0.1:9901\"",
            "listen = \"127.0.0.1:0\"",
        ),
    ]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .current_dir(project.dir.path())
        .args(["serve", "--config", "gateway.toml"])
        .env_remove("GATEWAY_CONFIG")
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                return;
            }
        }
    });
    // Until both the listening line and the failed JWKS fetch (a warning) have been printed.
    let mut seen = Vec::new();
    while !(seen
        .iter()
        .any(|l: &String| l.contains("gateway listening"))
        && seen
            .iter()
            .any(|l: &String| l.contains("JWKS fetch failed")))
    {
        let line = lines
            .recv_timeout(support::wait::DEADLINE)
            .unwrap_or_else(|_| panic!("the expected log lines never came: {seen:#?}"));
        seen.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    for line in &seen {
        assert!(!line.contains('\u{1b}'), "colour codes in a pipe: {line:?}");
    }
    let failure = seen
        .iter()
        .find(|l| l.contains("JWKS fetch failed"))
        .unwrap();
    assert!(failure.contains("connection refused"), "{failure}");
    assert!(failure.contains(&addr.to_string()), "{failure}");
}

#[test]
fn check_warns_that_the_issuer_is_still_the_placeholder() {
    let run = Project::clientco().run(&["check", "--config", "gateway.toml"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains(
            "warning: [auth] issuer is still the placeholder `https://YOUR_TENANT.auth0.com/`"
        ),
        "{run:?}"
    );
}

#[test]
fn check_says_which_url_and_why_the_keys_cannot_be_fetched() {
    let (_held, addr) = refusing_address();
    let url = format!("http://{addr}/.well-known/jwks.json");
    let project = project_with_jwks(&url);
    let run = project.run_config("check", &[]);
    assert_eq!(
        run.code, 0,
        "a network problem is a warning, not a config error: {run:?}"
    );
    run.expect_stderr(&format!(
            "warning: the signing keys of [auth] cannot be fetched from this machine: GET {url}: connection refused"
        ));
    let offline = project.run_config("check", &["--offline"]);
    offline.expect_code(0);
    assert!(!offline.stderr.contains("warning"), "{offline:?}");
}

/// Multi-threaded: the issuer serves on the runtime while the test thread waits for the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_counts_the_keys_it_fetched() {
    let issuer = spawn_issuer().await;
    let project = project_with_jwks(&issuer.jwks_url());
    let run = project.run_config("check", &[]);
    run.expect_code(0);
    run.expect_stdout(&format!("ok: 1 usable key(s) at {}", issuer.jwks_url()));
}

/// `explain --token` used to answer 401 where the data plane answers 503: they must agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_and_the_data_plane_agree_when_the_keys_cannot_load() {
    let (_held, addr) = refusing_address();
    let jwks_url = format!("http://{addr}/jwks.json");
    let world = World::start_with(|options| {
        options.jwks_url = jwks_url.clone();
        options.wait_ready = false;
    })
    .await;
    let token = world.token("read:forecast");
    let data_plane = world.get("/forecast", "read:forecast").await.status();
    assert_eq!(data_plane, 503);

    // The token's `iss` names the issuer the project trusts, so its keys are what is missing.
    let project = project_with_issuer(&world.issuer.issuer_url(), &jwks_url);
    let run = project.run_config("explain", &["GET", "/forecast", "--token", &token]);
    run.expect_code(0);
    run.expect_stdout("decision:   503");
    run.expect_stdout("connection refused");
}

#[test]
fn a_yaml_syntax_error_has_one_position_and_a_hint() {
    let cases = [
        (
            "  read:forecast: Retrieve demand forecast",
            "  read:forecast: Retrieve: demand forecast",
            "must be quoted",
        ),
        ("  - path: /forecast", "\t- path: /forecast", "tab"),
        ("    methods: [POST]", "    methods: [POST", "closed"),
    ];
    for (from, to, hint) in cases {
        let project = Project::clientco();
        project.edit("policies/clientco.yaml", from, to);
        let run = project.run_config("check", &["--offline"]);
        run.expect_code(1);
        let first = run.stderr.lines().next().unwrap();
        assert!(first.starts_with("policies/clientco.yaml:"), "{run:?}");
        assert!(!first.contains(" at line "), "two positions: {first}");
        assert!(first.contains(hint), "no hint about {hint}: {first}");
    }
}

#[test]
fn an_unknown_key_does_not_hide_a_bad_value_and_a_number_duration_says_how_to_write_it() {
    let project = Project::clientco();
    project.edits(&[
        (
            "gateway.toml",
            "[upstream]\n",
            "[upstream]\ntimeout = \"5s\"\n",
        ),
        ("gateway.toml", "# leeway = \"30s\"", "leeway = 30"),
    ]);
    let run = project.run_config("check", &["--offline"]);
    run.expect_code(1);
    run.expect_stderr("unknown key `timeout` in [upstream]");
    run.expect_stderr("`auth.leeway`: a duration is text with a unit: write `leeway = \"30s\"`");
    run.expect_stderr("2 problems found");
}

#[test]
fn a_typo_in_a_cases_file_suggests_the_key_meant() {
    let project = Project::clientco();
    project.write(
        "cases.yaml",
        "- {method: GET, path: /forecast, scopes: [read:forecast], status: 200}\n\
         - {method: GET, path: /forecast, scope: [read:forecast], status: 200}\n",
    );
    let run = project.run_config("test", &["cases.yaml"]);
    run.expect_code(1);
    assert!(run.stderr.starts_with("cases.yaml:2:"), "{run:?}");
    run.expect_stderr("case 2: unknown field `scope`; did you mean `scopes`?");
}

#[test]
fn help_describes_every_argument_and_shows_config_only_where_it_is_read() {
    let help = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_gateway"))
            .args(args)
            .arg("--help")
            .env_remove("GATEWAY_CONFIG")
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    };
    // Each argument and its description, whichever layout clap picks (short or long help).
    let described = |text: &str, argument: &str, description: &str| {
        let at = text
            .find(argument)
            .unwrap_or_else(|| panic!("{argument} is not in:\n{text}"));
        assert!(
            text[at..].contains(description),
            "{argument} is not described as {description:?}:\n{text}"
        );
    };
    let explain = help(&["explain"]);
    described(&explain, "<METHOD>", "The request's method");
    described(&explain, "<PATH>", "The request path");
    described(&help(&["test"]), "<CASES>", "The YAML file of cases");
    let token = help(&["token"]);
    assert!(
        token.contains("--credentials <FILE>") && token.contains("The client's credentials"),
        "{token}"
    );
    // `gateway token` reads the config only to name its audience in a refusal, and says so.
    described(
        &token,
        "--config <FILE>",
        "read only when a token cannot be had",
    );
    assert!(!help(&["demo"]).contains("--config"));
    for subcommand in [
        "serve",
        "check",
        "explain",
        "docs",
        "test",
        "token",
        "demo",
        "assertion-jwks",
    ] {
        let text = help(&[subcommand]);
        assert!(
            text.contains("Example"),
            "`gateway {subcommand} --help` has no example"
        );
        if subcommand != "demo" {
            assert!(text.contains("--config <FILE>"), "{text}");
        }
    }
}

#[test]
fn a_config_given_before_the_subcommand_is_the_one_used() {
    let project = Project::clientco();
    let other = project
        .read("gateway.toml")
        .replace("[upstream]\n", "[upstream]\ntimeout = \"5s\"\n");
    project.write("other.toml", &other);
    // The default gateway.toml is valid; the one named before the subcommand is not.
    let run = project.run(&["--config", "other.toml", "check", "--offline"]);
    run.expect_code(1);
    run.expect_stderr("other.toml:");
    run.expect_stderr("unknown key `timeout`");
}
