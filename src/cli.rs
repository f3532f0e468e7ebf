//! The command line: `serve` (the default), `migrate`, `openapi`.

use std::net::TcpListener;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::startup;

#[derive(Debug, Parser)]
#[command(
    name = "shuangbai",
    version,
    about = "Double Hundred Project (双百工程) progress API. Configured by environment variables: see .env.example."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply migrations and serve the API (the default).
    Serve,
    /// Apply pending migrations to DATABASE_URL and exit.
    Migrate,
    /// Print the OpenAPI document generated from the code.
    Openapi,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            print!("{}", startup::openapi_json());
            Ok(())
        }
        Command::Migrate => settings().and_then(|s| {
            crate::db::prepare(&s.database_url)?;
            log::info!("migrations applied to {}", s.database_url.redacted());
            Ok(())
        }),
        Command::Serve => settings().and_then(serve),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("shuangbai: {message}");
            ExitCode::FAILURE
        }
    }
}

fn settings() -> Result<Settings, String> {
    Settings::from_env().map_err(|e| format!("invalid configuration: {e}"))
}

fn serve(settings: Settings) -> Result<(), String> {
    let pool = startup::prepare_pool(&settings)?;
    let listener = TcpListener::bind(settings.bind)
        .map_err(|e| format!("SHUANGBAI_BIND: cannot listen on {}: {e}", settings.bind))?;
    log::info!(
        "serving on http://{} with {}",
        settings.bind,
        settings.database_url.redacted()
    );
    actix_web::rt::System::new()
        .block_on(async move { startup::run(listener, pool, settings)?.await })
        .map_err(|e| format!("server failed: {e}"))
}
