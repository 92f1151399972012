//! The `latchkey` binary: parse the command line, set up logging, run.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use latchkey::crypto::random_token;
use latchkey::session::SigningKey;
use latchkey::{Application, Settings, telemetry};

/// mimalloc instead of glibc's malloc: a link request makes many small short-lived
/// allocations on two or more threads, where glibc's arenas showed up as a tenth of the
/// profile (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A passwordless login service.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Print a new Ed25519 private key (PKCS#8 PEM) for JWT_KEYS.
    Keygen,
    /// Print a new random SECRET_KEY.
    Secret,
    /// Print a new OIDC client secret and the `secret_sha256` line for CLIENTS_FILE.
    ClientSecret,
}

fn main() -> ExitCode {
    // The HTTP workers run on runtimes of their own, each with its own Redis connection;
    // everything else — the shared Redis connection's driver, the outbox worker, the policy
    // refresh — runs on this one. A multi-threaded runtime keeps that from being one thread
    // every delivery has to wait on.
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&e),
    };
    actix_web::rt::System::with_tokio_rt(move || runtime).block_on(run())
}

async fn run() -> ExitCode {
    // Both ring and aws-lc-rs are in the dependency tree, so rustls cannot choose by itself.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Keygen => match SigningKey::generate_pem() {
            Ok(pem) => print!("{pem}"),
            Err(e) => return fail(&e),
        },
        Command::Secret => match random_token::<32>() {
            Ok(secret) => println!("{secret}"),
            Err(e) => return fail(&e),
        },
        Command::ClientSecret => match latchkey::oidc::clients::new_client_secret() {
            Ok((secret, hash)) => println!("client secret (give it to the app): {secret}\nsecret_sha256 = \"{hash}\""),
            Err(e) => return fail(&e),
        },
        Command::Serve => return serve().await,
    }
    ExitCode::SUCCESS
}

async fn serve() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprint!("{e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    let (bind, public_url) = (settings.bind_addr, settings.public_url.to_string());
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => return fail(&*e),
    };
    tracing::info!(%bind, port = app.port(), %public_url, "latchkey is listening; open {public_url}login");
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("latchkey: {e}");
    ExitCode::FAILURE
}
