//! The `gateway` binary: parses the command line, sets up tracing, maps results to exit codes.
//! Everything else lives in the library so tests can call it.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// mimalloc rather than glibc's malloc: every request allocates and frees a few buffers of a
/// few KiB (hyper's read buffers, header maps), where glibc's size-class bins and consolidation
/// cost a measurable share of a request (docs/benchmarks.md, "Profile").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXAMPLES: &str = "\
Examples:
  gateway --config gateway.toml                 serve (the default subcommand)
  gateway check --config gateway.toml           validate before deploying
  gateway explain GET /forecast --token \"$TOKEN\"
  gateway demo                                  everything local, no Auth0 account needed

Every setting can be overridden with GATEWAY_<SECTION>_<KEY> (docs/configuration.md);
GATEWAY_LOG sets the log filter (e.g. `warn,gateway::access=info`).";

#[derive(Parser)]
#[command(
    name = "gateway",
    version,
    about = "An authorizing reverse proxy for JWT-protected APIs",
    after_help = EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The gateway configuration, for `gateway` without a subcommand (which serves).
    #[arg(
        long,
        env = "GATEWAY_CONFIG",
        default_value = "gateway.toml",
        value_name = "FILE"
    )]
    config: PathBuf,
    /// Log line format (default: `[log] format`, else text; colours only when stderr is a
    /// terminal and NO_COLOR is unset).
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
}

/// `--config` for the subcommands that read one.
#[derive(Args)]
struct ConfigFile {
    /// The gateway configuration (gateway.toml); relative paths in it start from its folder.
    #[arg(
        long,
        env = "GATEWAY_CONFIG",
        default_value = "gateway.toml",
        value_name = "FILE"
    )]
    config: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default).
    #[command(after_help = "Example:\n  gateway serve --config /etc/gateway/gateway.toml")]
    Serve {
        #[command(flatten)]
        config: ConfigFile,
    },
    /// Validate the configuration and the policy; print every problem with file:line:column.
    #[command(after_help = "Examples:\n  gateway check --config gateway.toml\n  \
        gateway check --config gateway.toml --offline    # in CI, without network access")]
    Check {
        #[command(flatten)]
        config: ConfigFile,
        /// Do not fetch the issuer's JWKS (by default check fetches it once and warns when it
        /// cannot).
        #[arg(long)]
        offline: bool,
    },
    /// Which route matches METHOD PATH, which scopes it needs, and with --token the decision.
    #[command(after_help = "Examples:\n  gateway explain GET /forecast\n  \
        gateway explain POST /ingest --token \"$(gateway token --credentials clientco/credentials.json)\"\n  \
        gateway explain GET /forecast --token \"$TOKEN\" --dpop \"$PROOF\"    # a DPoP-bound token")]
    Explain {
        #[command(flatten)]
        config: ConfigFile,
        /// The request's method, e.g. GET (case-insensitive here).
        #[arg(value_name = "METHOD")]
        method: String,
        /// The request path as a client would send it, e.g. /forecast or /models/../forecast.
        #[arg(value_name = "PATH")]
        path: String,
        /// An access token (JWT) to verify against the configured issuer and judge.
        #[arg(long, value_name = "JWT")]
        token: Option<String>,
        /// A DPoP proof (the `DPoP` header) sent with a DPoP-bound --token.
        #[arg(long, value_name = "PROOF", requires = "token")]
        dpop: Option<String>,
        /// The client certificate (PEM) the request would come with, for a certificate-bound
        /// --token.
        #[arg(long, value_name = "FILE", requires = "token")]
        cert: Option<PathBuf>,
    },
    /// Render the human view of the policy (docs/trust_boundaries.md).
    #[command(after_help = "Examples:\n  gateway docs --config gateway.toml\n  \
        gateway docs --config gateway.toml --check    # in CI: fail when the page has drifted")]
    Docs {
        #[command(flatten)]
        config: ConfigFile,
        /// Fail when the committed file differs from what the policy renders.
        #[arg(long)]
        check: bool,
        /// Where to write (default: docs/trust_boundaries.md beside the config file).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Run policy test cases (method, path, scopes, binding -> expected status).
    #[command(
        after_help = "Example:\n  gateway test --config gateway.toml policies/clientco.tests.yaml"
    )]
    Test {
        #[command(flatten)]
        config: ConfigFile,
        /// The YAML file of cases: a list of {name?, method, path, scopes?, binding?, status}, or
        /// `policy: FILE` (the policy they judge, relative to this file) and `cases:` the list.
        #[arg(value_name = "CASES")]
        cases: PathBuf,
    },
    /// What changes between two policy versions, each change looser, stricter or neutral.
    #[command(after_help = "Examples:\n  \
        gateway diff --config gateway.toml old.yaml                  # old.yaml -> the config's policy\n  \
        git show origin/main:policies/clientco.yaml > base.yaml\n  \
        gateway diff --config gateway.toml base.yaml --fail-on looser   # exit 3 if access loosens")]
    Diff {
        #[command(flatten)]
        config: ConfigFile,
        /// The policy before the change.
        #[arg(value_name = "OLD")]
        old: PathBuf,
        /// The policy after the change (default: the config's [policy] file).
        #[arg(value_name = "NEW")]
        new: Option<PathBuf>,
        /// Output for people (default) or one JSON document for CI bots.
        #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
        format: OutputFormat,
        /// Exit 3 when a change of this kind is found (looser: someone gains access or a limit
        /// loosens; any: any change at all).
        #[arg(long, value_enum, value_name = "CHANGE")]
        fail_on: Option<FailOn>,
    },
    /// Check the policy against the backend's OpenAPI document (a file or an http(s):// URL).
    #[command(after_help = "Examples:\n  \
        gateway coverage --config gateway.toml --openapi openapi.json\n  \
        gateway coverage --config gateway.toml --openapi http://127.0.0.1:8000/openapi.json --strict")]
    Coverage {
        #[command(flatten)]
        config: ConfigFile,
        /// The OpenAPI 3.x document (JSON or YAML): a file, or an http:// or https:// URL.
        #[arg(long, value_name = "FILE|URL")]
        openapi: String,
        /// Output for people (default) or one JSON document for CI bots.
        #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
        format: OutputFormat,
        /// Exit 1 on any finding other than operations blocked by a restriction.
        #[arg(long)]
        strict: bool,
    },
    /// Print a starting policy generated from the backend's OpenAPI document, for review.
    #[command(after_help = "Example:\n  \
        gateway init --openapi http://127.0.0.1:8000/openapi.json > policies/new.yaml")]
    Init {
        /// The OpenAPI 3.x document (JSON or YAML): a file, or an http:// or https:// URL.
        #[arg(long, value_name = "FILE|URL")]
        openapi: String,
    },
    /// Client-credentials grant against the issuer's /oauth/token; prints the access token.
    #[command(after_help = "Example:\n  \
        curl -H \"Authorization: Bearer $(gateway token)\" https://api.saasco.example/forecast")]
    Token {
        /// The client's credentials: JSON with domain (or issuer or token_url), client_id,
        /// client_secret and audience (see clientco/credentials.example.json).
        #[arg(long, default_value = "clientco/credentials.json", value_name = "FILE")]
        credentials: PathBuf,
        /// The Auth0 Organization the token is for (its id org_… or its name): the token then
        /// carries org_id. Overrides the file's "organization".
        #[arg(long, value_name = "ORG")]
        organization: Option<String>,
        /// The gateway configuration, read only when a token cannot be had: a refusal that
        /// asks for the configured audience names its [auth] audience (skipped when absent).
        #[arg(
            long,
            env = "GATEWAY_CONFIG",
            default_value = "gateway.toml",
            value_name = "FILE"
        )]
        config: PathBuf,
    },
    /// Everything local: a development issuer, a demo backend and the gateway, then sample calls.
    #[command(after_help = "Example:\n  cargo run --release -- demo")]
    Demo,
    /// Print the public keys of [forward.assertion] as a JWKS (what the admin listener serves at
    /// /.well-known/jwks.json), for backends that load the keys from a file.
    #[command(
        after_help = "Example:\n  gateway assertion-jwks --config gateway.toml > assertion-jwks.json\n\n\
        The FastAPI package reads it with GatewayAssertion(jwks_file=\"assertion-jwks.json\", ...).\n\
        Run it again after changing key_file or previous_key_file, and replace the file by rename."
    )]
    AssertionJwks {
        #[command(flatten)]
        config: ConfigFile,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Human,
    Json,
}

impl From<OutputFormat> for gateway::commands::Format {
    fn from(format: OutputFormat) -> Self {
        match format {
            OutputFormat::Human => Self::Human,
            OutputFormat::Json => Self::Json,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum FailOn {
    Looser,
    Any,
}

impl From<FailOn> for gateway::commands::diff::FailOn {
    fn from(fail_on: FailOn) -> Self {
        match fail_on {
            FailOn::Looser => Self::Looser,
            FailOn::Any => Self::Any,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Text lines (also `text`, as `[log] format` says it).
    #[value(alias = "text")]
    Pretty,
    Json,
}

impl From<LogFormat> for gateway::telemetry::LogFormat {
    fn from(format: LogFormat) -> Self {
        match format {
            LogFormat::Pretty => Self::Text,
            LogFormat::Json => Self::Json,
        }
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    // `gateway --config F check` means check F, like `gateway check --config F`.
    let top_level_config = (matches.value_source("config") == Some(ValueSource::CommandLine))
        .then(|| cli.config.clone());
    let command = cli.command.unwrap_or(Command::Serve {
        config: ConfigFile { config: cli.config },
    });
    // The gateway logs what it does; the demo prints its own narrative (per-request lines would
    // drown it); the tools print their answers, and their own fetches say what went wrong.
    let default_level = match command {
        Command::Serve { .. } => "info",
        Command::Demo => "warn",
        _ => "error",
    };
    let log_format = cli.log_format.map(gateway::telemetry::LogFormat::from);
    let config_of = |file: ConfigFile| {
        let subcommand_typed = matches
            .subcommand()
            .and_then(|(_, sub)| sub.value_source("config"))
            == Some(ValueSource::CommandLine);
        match &top_level_config {
            Some(path) if !subcommand_typed => path.clone(),
            _ => file.config,
        }
    };
    if let Command::Serve { config } = command {
        // The worker count and `[log] format` come from the config file, so serve builds its
        // own runtime and sets tracing up once it has read the file.
        return gateway::commands::serve::main(&config_of(config), log_format, |format| {
            init_tracing(format, default_level)
        });
    }
    init_tracing(log_format.unwrap_or_default(), default_level);
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
    runtime.block_on(async move {
        match command {
            Command::Serve { .. } => unreachable!("handled above"),
            Command::Check { config, offline } => {
                gateway::commands::check::run(&config_of(config), offline).await
            }
            Command::Explain {
                config,
                method,
                path,
                token,
                dpop,
                cert,
            } => {
                gateway::commands::explain::run(
                    &config_of(config),
                    &method,
                    &path,
                    token.as_deref(),
                    gateway::commands::explain::Proofs {
                        dpop: dpop.as_deref(),
                        cert: cert.as_deref(),
                    },
                )
                .await
            }
            Command::Docs {
                config,
                check,
                output,
            } => gateway::commands::docs::run(&config_of(config), check, output.as_deref()).await,
            Command::Test { config, cases } => {
                gateway::commands::cases::run(&config_of(config), &cases).await
            }
            Command::Diff {
                config,
                old,
                new,
                format,
                fail_on,
            } => {
                gateway::commands::diff::run(
                    &config_of(config),
                    &old,
                    new.as_deref(),
                    format.into(),
                    fail_on.map(Into::into),
                )
                .await
            }
            Command::Coverage {
                config,
                openapi,
                format,
                strict,
            } => {
                gateway::commands::coverage::run(
                    &config_of(config),
                    &openapi,
                    format.into(),
                    strict,
                )
                .await
            }
            Command::Init { openapi } => gateway::commands::init::run(&openapi).await,
            Command::Token {
                credentials,
                organization,
                config,
            } => {
                let config = config_of(ConfigFile { config });
                gateway::commands::token::run(&credentials, organization.as_deref(), &config).await
            }
            Command::Demo => gateway::commands::demo::run().await,
            Command::AssertionJwks { config } => {
                gateway::commands::assertion_jwks::run(&config_of(config)).await
            }
        }
    })
}

/// `GATEWAY_LOG` (tracing's filter syntax, e.g. `warn,gateway::access=info`) overrides the level.
/// Colour codes only when stderr is a terminal and `NO_COLOR` is unset (no-color.org): a log
/// that goes to a file or a pipe stays plain text.
fn init_tracing(format: gateway::telemetry::LogFormat, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("GATEWAY_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ansi = std::io::stderr().is_terminal() && !no_color;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        gateway::telemetry::LogFormat::Text => builder.init(),
        gateway::telemetry::LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
