//! The `gateway` binary: parses the command line, sets up tracing, maps results to exit codes.
//! Everything else lives in the library so tests can call it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// mimalloc rather than glibc's malloc: every request allocates and frees a few buffers of a
/// few KiB (hyper's read buffers, header maps), where glibc's size-class bins and consolidation
/// cost a measurable share of a request (docs/benchmarks.md, "Profile").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "gateway",
    version,
    about = "An authorizing reverse proxy for JWT-protected APIs"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The gateway configuration (used when no subcommand is given: `serve`).
    #[arg(
        long,
        global = true,
        env = "GATEWAY_CONFIG",
        default_value = "gateway.toml"
    )]
    config: PathBuf,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Validate the configuration and the policy; print every problem with file:line:column.
    Check,
    /// Which route matches METHOD PATH, which scopes it needs, and with --token the decision.
    Explain {
        method: String,
        path: String,
        /// A JWT to verify against the configured issuer and judge.
        #[arg(long)]
        token: Option<String>,
    },
    /// Render the human view of the policy (docs/trust_boundaries.md).
    Docs {
        /// Fail when the committed file differs from what the policy renders.
        #[arg(long)]
        check: bool,
        /// Where to write (default: docs/trust_boundaries.md beside the config file).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Run policy test cases (method, path, scopes -> expected status).
    Test { cases: PathBuf },
    /// Client-credentials grant against the issuer's /oauth/token; prints the access token.
    Token {
        #[arg(long, default_value = "clientco/credentials.json")]
        credentials: PathBuf,
    },
    /// Everything local: a development issuer, a demo backend and the gateway, then sample calls.
    Demo,
    /// Print the public keys of [forward.assertion] as a JWKS (what the admin listener serves at
    /// /.well-known/jwks.json), for backends that load the keys from a file.
    #[command(
        after_help = "Example:\n  gateway assertion-jwks --config gateway.toml > assertion-jwks.json\n\n\
        The FastAPI package reads it with GatewayAssertion(jwks_file=\"assertion-jwks.json\", ...).\n\
        Run it again after changing key_file or previous_key_file, and replace the file by rename."
    )]
    AssertionJwks,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Pretty,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    // The demo prints its own narrative; per-request log lines would drown it.
    let default_level = if matches!(command, Command::Demo) {
        "warn"
    } else {
        "info"
    };
    init_tracing(cli.log_format, default_level);
    if let Command::Serve = command {
        // The worker count comes from the config file, so serve builds its own runtime.
        return gateway::commands::serve::main(&cli.config);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = cli.config;
    runtime.block_on(async move {
        match command {
            Command::Serve => unreachable!("handled above"),
            Command::Check => gateway::commands::check::run(&config).await,
            Command::Explain {
                method,
                path,
                token,
            } => gateway::commands::explain::run(&config, &method, &path, token.as_deref()).await,
            Command::Docs { check, output } => {
                gateway::commands::docs::run(&config, check, output.as_deref()).await
            }
            Command::Test { cases } => gateway::commands::cases::run(&config, &cases).await,
            Command::Token { credentials } => gateway::commands::token::run(&credentials).await,
            Command::Demo => gateway::commands::demo::run().await,
            Command::AssertionJwks => gateway::commands::assertion_jwks::run(&config).await,
        }
    })
}

/// `GATEWAY_LOG` (tracing's filter syntax, e.g. `warn,gateway::access=info`) overrides the level.
fn init_tracing(format: LogFormat, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("GATEWAY_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
