//! The `latchkey` binary: parse the command line, set up logging, run.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use latchkey::config::LogFormat;
use latchkey::crypto::random_token;
use latchkey::session::SigningKey;
use latchkey::{Application, Settings, store_tools, telemetry};

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
    /// Print a new private key (PKCS#8 PEM) for JWT_KEYS: Ed25519, or RSA-2048 with `--rsa`.
    Keygen {
        /// An RSA-2048 key (RS256 id_tokens) instead of Ed25519.
        #[arg(long)]
        rsa: bool,
    },
    /// Print a new DKIM private key (PEM, on standard output) and, on standard error, the DNS TXT
    /// record to publish and the DKIM_* settings: `latchkey dkim-keygen > dkim.pem`.
    DkimKeygen {
        /// The selector: the record goes to `<selector>._domainkey.<domain>`.
        #[arg(long, default_value = "latchkey")]
        selector: String,
        /// The signing domain (default: DKIM_DOMAIN, else MAIL_FROM's domain).
        #[arg(long)]
        domain: Option<String>,
        /// An RSA-2048 key instead of Ed25519 (Ed25519 is not verified by every receiver yet).
        #[arg(long)]
        rsa: bool,
    },
    /// Print a new random SECRET_KEY.
    Secret,
    /// Print a new OIDC client secret and the `secret_sha256` line for CLIENTS_FILE.
    ClientSecret,
    /// Act on the configured store (docs/operations.md): `init`, `adopt`, `restored`.
    Store {
        #[command(subcommand)]
        action: StoreAction,
    },
}

#[derive(Subcommand)]
enum StoreAction {
    /// Give a new deployment's store its identity and starting policy; prints the STORE_ID to
    /// configure (a store that has one is left alone and its id printed).
    Init,
    /// After the store lost its data (or to take over another store): make it this
    /// deployment's — STORE_ID (or --store-id) as its identity, the policy re-seeded if
    /// missing. Audited. Instances serve again within 2 s.
    Adopt {
        /// The identity to write (default: STORE_ID).
        #[arg(long)]
        store_id: Option<String>,
    },
    /// After restoring the store from a backup: end every session, void every link, pending
    /// step and OIDC grant, refuse every token issued before now. Audited.
    Restored,
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
        Command::Keygen { rsa } => {
            match if rsa { SigningKey::generate_rsa_pem() } else { SigningKey::generate_pem() } {
                Ok(pem) => print!("{pem}"),
                Err(e) => return fail(&e),
            }
        }
        Command::DkimKeygen { selector, domain, rsa } => return dkim_keygen(&selector, domain, rsa),
        Command::Secret => match random_token::<32>() {
            Ok(secret) => println!("{secret}"),
            Err(e) => return fail(&e),
        },
        Command::ClientSecret => match latchkey::domain::new_client_secret() {
            Ok((secret, hash)) => println!("client secret (give it to the app): {secret}\nsecret_sha256 = \"{hash}\""),
            Err(e) => return fail(&e),
        },
        Command::Store { action } => return store_command(action).await,
        Command::Serve => return serve().await,
    }
    ExitCode::SUCCESS
}

async fn store_command(action: StoreAction) -> ExitCode {
    let _ = dotenvy::dotenv();
    let settings = match Settings::for_store_commands(|name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(e) => {
            eprint!("{e}");
            return ExitCode::from(2);
        }
    };
    let store = match store_tools::open_store(&settings) {
        Ok(store) => store,
        Err(e) => return fail(&e),
    };
    let now = chrono::Utc::now();
    let who = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".to_owned());
    let result = match action {
        StoreAction::Init => store_tools::init(&store, &settings.policy, now).await.map(|init| {
            if init.created {
                println!("The store has its identity. Configure every instance with:\nSTORE_ID={}", init.identity.id);
            } else {
                println!("The store already has an identity (nothing changed):\nSTORE_ID={}", init.identity.id);
            }
        }),
        StoreAction::Adopt { store_id } => {
            let Some(id) = store_id.or_else(|| settings.store_id.clone()) else {
                eprintln!("latchkey: set STORE_ID (or pass --store-id): the identity the instances expect");
                return ExitCode::from(2);
            };
            let operator = format!("latchkey store adopt (by {who})");
            store_tools::adopt(&store, &id, &settings.policy, &operator, now).await.map(|adopted| {
                let previous = adopted.previous.as_deref().unwrap_or("none (it was empty)");
                println!("Adopted: the store is now STORE_ID={id} (its identity was: {previous}).");
                if adopted.policy_seeded {
                    println!("The policy was missing and is the environment's starting policy again.");
                }
                println!("Instances serve again within 2 seconds. Recorded in the audit log.");
            })
        }
        StoreAction::Restored => {
            let operator = format!("latchkey store restored (by {who})");
            store_tools::restored(&store, &operator, now).await.map(|restored| {
                println!(
                    "Voided {} sessions, links, steps and grants; every token issued before {now} is refused. \
                     People sign in again. Recorded in the audit log.",
                    restored.voided
                );
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("{e:#}")),
    }
}

/// `latchkey dkim-keygen`: the key on standard output, what to do with it on standard error.
fn dkim_keygen(selector: &str, domain: Option<String>, rsa: bool) -> ExitCode {
    use latchkey::crypto::dkim::{DkimAlgorithm, DkimKey, zone_file_line};
    use secrecy::ExposeSecret;

    let _ = dotenvy::dotenv();
    let domain = domain
        .or_else(|| std::env::var("DKIM_DOMAIN").ok())
        .or_else(|| {
            let from: lettre::message::Mailbox = std::env::var("MAIL_FROM").ok()?.parse().ok()?;
            Some(from.email.domain().to_owned())
        })
        .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty());
    let Some(domain) = domain else {
        eprintln!("latchkey: pass --domain (or set DKIM_DOMAIN or MAIL_FROM): the domain mail is signed for");
        return ExitCode::from(2);
    };
    let key = match DkimKey::generate(if rsa { DkimAlgorithm::Rsa } else { DkimAlgorithm::Ed25519 }) {
        Ok(key) => key,
        Err(e) => return fail(&e),
    };
    let pem = match key.to_pem() {
        Ok(pem) => pem,
        Err(e) => return fail(&e),
    };
    print!("{}", pem.expose_secret());
    let name = format!("{selector}._domainkey.{domain}");
    let record = key.dns_record();
    eprintln!(
        "The private key is on standard output: save it to a file only latchkey can read.\n\n\
         Publish this DNS TXT record (zone-file form; DNS strings hold 255 characters, so a long value is split):\n\n\
         {zone}\n\n\
         name:  {name}\nvalue: {record}\n\n\
         Then configure every instance with:\n\
         DKIM_SELECTOR={selector}\nDKIM_DOMAIN={domain}\nDKIM_PRIVATE_KEY=/path/to/the/saved/key.pem",
        zone = zone_file_line(&name, &record),
    );
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
    telemetry::init(settings.log_format == LogFormat::Json);
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    let (bind, public_url) = (settings.bind_addr, settings.public_url.to_string());
    let socket = settings.bind_socket.as_ref().map(|path| path.display().to_string());
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => return fail(&*e),
    };
    tracing::info!(%bind, ?socket, port = app.port(), %public_url, "latchkey is listening; open {public_url}login");
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("latchkey: {e}");
    ExitCode::FAILURE
}
