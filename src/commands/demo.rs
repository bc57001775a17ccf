//! `gateway demo`: a development issuer, a demo backend and the gateway on loopback, then the
//! seven sample calls with their outcomes, the two tenant-isolation calls, the two-issuer call,
//! then the curl lines to
//! try by hand, serving until Ctrl-C. The moving parts live in `crate::dev::demo`; this prints.
//!
//! Exit code: 0 after Ctrl-C when every sample call came out as expected, 1 when the demo could
//! not start or an outcome was wrong (the demo still keeps serving, so it can be investigated).

use std::process::ExitCode;

use crate::dev::demo::Demo;
use crate::dev::demo::calls::Outcome;

pub async fn run() -> ExitCode {
    println!("gateway demo: the whole product on this machine; nothing leaves 127.0.0.1.\n");
    let demo = match Demo::start().await {
        Ok(demo) => demo,
        Err(error) => {
            eprintln!("error: the demo could not start: {error}");
            return ExitCode::FAILURE;
        }
    };
    print_services(&demo);

    println!(
        "Sample calls (through the gateway at {}):\n",
        demo.gateway_url()
    );
    let outcomes = demo.sample_calls().await;
    for outcome in &outcomes {
        println!("  {outcome}");
    }
    let mut next = outcomes.len() + 1;
    let mut sections = Vec::new();
    let tenants = demo.tenant_calls(next).await;
    next += tenants.len();
    sections.push(Section {
        title: format!(
            "Tenant isolation (the credentials name ClientCo's Auth0 Organization, so each token \
             carries its id in `{}`;\nthe policy's `when:` compares it with the tenant the path \
             names):",
            crate::dev::demo::TENANT_CLAIM
        ),
        outcomes: tenants,
        counted_as: "tenant-isolation outcomes as expected: another tenant's path is refused",
    });
    let issuers = demo.issuer_calls(next).await;
    next += issuers.len();
    sections.push(Section {
        title: "Two issuers (production `prod` and staging `staging`, each its own tenant and \
                keys;\nthe ClientCo routes take production tokens only, `issuers: [prod]`):"
            .to_owned(),
        outcomes: issuers,
        counted_as: "two-issuer outcomes as expected: the staging token was refused on the production route",
    });
    sections.push(Section {
        title: "Sender-constrained tokens (RFC 9449 DPoP): a token bound to ClientCo's key, then \
                stolen:"
            .to_owned(),
        outcomes: demo.bound_calls(next).await,
        counted_as: "bound-token outcomes as expected: a bound token works only with its key",
    });
    let mut sections_good = true;
    for section in &sections {
        sections_good &= section.print();
    }
    let backend_clean = print_backend_report(&demo);
    let good = outcomes.iter().filter(|o| o.as_expected()).count();
    let all_good = good == outcomes.len() && sections_good && backend_clean;
    if all_good {
        println!(
            "\n{good} of {} outcomes as expected in the sample calls, and every outcome after them.",
            outcomes.len()
        );
    } else {
        println!(
            "\nPROBLEM: {good} of {} outcomes as expected in the sample calls{}{}; the demo keeps running so you can look.",
            outcomes.len(),
            if sections_good {
                ""
            } else {
                ", and a later section went wrong (above)"
            },
            if backend_clean {
                ""
            } else {
                ", and the backend received something it must not"
            }
        );
    }

    print_try_by_hand(&demo);
    println!(
        "\nClientCo's kit, clientco/sample_requests.http, runs against this demo with httpyac:\n  \
         httpyac environment: {}\n  {}   # from the repository root",
        demo.httpyac_env_file.display(),
        demo.httpyac_command()
    );
    println!("\nServing until Ctrl-C.");
    wait_for_stop().await;
    println!("\nstopping");
    demo.shutdown().await;
    if all_good {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A group of calls after the sample calls: what it shows, and how its summary counts.
struct Section {
    title: String,
    outcomes: Vec<Outcome>,
    counted_as: &'static str,
}

impl Section {
    /// Prints the title, each outcome and the count; true when every outcome was as expected.
    fn print(&self) -> bool {
        println!("\n{}\n", self.title);
        for outcome in &self.outcomes {
            println!("  {outcome}");
        }
        let good = self.outcomes.iter().filter(|o| o.as_expected()).count();
        println!("\n  {good} of {} {}.", self.outcomes.len(), self.counted_as);
        good == self.outcomes.len()
    }
}

fn print_services(demo: &Demo) {
    let print_client = |client: &crate::dev::demo::DemoClient| {
        println!(
            "      client {:<18} scopes: {:<43} credentials: {}",
            client.credentials.client_id,
            client.scopes.join(" "),
            client.credentials_file.display()
        );
    };
    println!(
        "  development issuer  {}   (tenant `prod`)\n      DEVELOPMENT ONLY, not for production: an in-memory key that mints tokens for the\n      demo clients below; it refuses to bind anything but loopback. Use Auth0 for real.",
        demo.issuer.issuer_url()
    );
    demo.clients.iter().for_each(print_client);
    println!(
        "  development issuer  {}   (tenant `staging`: a second issuer with its own keys)",
        demo.staging.issuer_url()
    );
    print_client(&demo.staging_client);
    println!(
        "  demo backend        {}   (stands in for SaaSCo's FastAPI app; echoes the X-Auth-* it receives)",
        demo.backend.url()
    );
    println!(
        "  gateway             {}   (admin: {}/healthz /readyz /metrics)\n      config: {}\n",
        demo.gateway_url(),
        demo.admin_url(),
        demo.dir.join("gateway.toml").display()
    );
}

/// Prints what the backend received and whether any of it was forbidden: a restricted path, or
/// an identity header the gateway did not set. Returns true when it was all clean.
fn print_backend_report(demo: &Demo) -> bool {
    let received = demo.backend.received();
    let restricted: Vec<_> = received
        .iter()
        .filter(|r| r.path.starts_with("/models/") || r.path.starts_with("/pipeline/"))
        .collect();
    let client_ids: Vec<&str> = demo
        .clients
        .iter()
        .map(|c| c.credentials.client_id.as_str())
        .collect();
    // Every request must carry exactly one X-Auth-Client-Id, naming a real demo client.
    let forged: Vec<_> = received
        .iter()
        .filter(|r| {
            let ids: Vec<&str> = r
                .identity
                .iter()
                .filter(|(name, _)| name == "x-auth-client-id")
                .map(|(_, value)| value.as_str())
                .collect();
            ids.len() != 1 || !client_ids.contains(&ids[0])
        })
        .collect();
    let requests: Vec<String> = received
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    println!(
        "\n  The backend received {} request(s): {}.",
        received.len(),
        requests.join(", ")
    );
    if restricted.is_empty() {
        println!("  It never saw a restricted path (/models/**, /pipeline/**).");
    } else {
        println!("  PROBLEM: it saw restricted paths: {restricted:?}");
    }
    if forged.is_empty() {
        println!(
            "  Every identity it saw was set by the gateway from a verified token (no spoofed X-Auth-*)."
        );
    } else {
        println!("  PROBLEM: it saw identities the gateway did not verify: {forged:?}");
    }
    restricted.is_empty() && forged.is_empty()
}

fn print_try_by_hand(demo: &Demo) {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "gateway".to_owned());
    let gateway = demo.gateway_url();
    let admin = demo.admin_url();
    let (full, readonly) = (demo.client("clientco"), demo.client("clientco-readonly"));
    println!("\nTry it by hand (in another terminal, while this runs):\n");
    if let Some(client) = full {
        println!(
            "  export TOKEN=$({exe} token --credentials {})",
            client.credentials_file.display()
        );
    }
    println!(
        "  curl -i -X POST {gateway}/ingest -H \"Authorization: Bearer $TOKEN\" -H 'content-type: application/json' -d '{{\"rows\":[]}}'"
    );
    println!("  curl -i {gateway}/forecast -H \"Authorization: Bearer $TOKEN\"");
    println!("  curl -i {gateway}/inventory -H \"Authorization: Bearer $TOKEN\"");
    println!(
        "  curl -i -X POST {gateway}/models/train -H \"Authorization: Bearer $TOKEN\"   # 403: restricted"
    );
    println!("  curl -i {gateway}/forecast                                      # 401: no token");
    println!(
        "  curl -i -X DELETE {gateway}/forecast -H \"Authorization: Bearer $TOKEN\"   # 405 with Allow"
    );
    println!(
        "  curl -i {gateway}/tenants/{}/forecast -H \"Authorization: Bearer $TOKEN\"   # 403: another tenant (access_denied)",
        crate::dev::demo::OTHER_TENANT
    );
    if let Some(client) = readonly {
        println!(
            "  export READONLY=$({exe} token --credentials {})",
            client.credentials_file.display()
        );
        println!(
            "  curl -i {gateway}/inventory -H \"Authorization: Bearer $READONLY\"   # 403: insufficient_scope"
        );
    }
    let staging = &demo.staging_client;
    println!(
        "  export STAGING=$({exe} token --credentials {})",
        staging.credentials_file.display()
    );
    println!(
        "  curl -i {gateway}/forecast -H \"Authorization: Bearer $STAGING\"   # 403: access_denied, a staging token on a production route"
    );
    println!(
        "  {exe} explain --config {} GET /inventory --token \"$READONLY\"",
        demo.dir.join("gateway.toml").display()
    );
    println!("  curl -s {admin}/metrics | grep -v '^#'");
    println!(
        "\n  The token endpoint itself takes Auth0's JSON body (the secret is in the credentials file):"
    );
    println!(
        "  curl -s {} -H 'content-type: application/json' -d '{{\"grant_type\":\"client_credentials\",\"client_id\":\"clientco\",\"client_secret\":\"<client_secret>\",\"audience\":\"{}\"}}'",
        demo.issuer.token_url(),
        crate::dev::demo::AUDIENCE
    );
}

/// Ctrl-C, or SIGTERM where there is one.
async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
