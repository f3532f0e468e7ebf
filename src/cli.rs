//! The command line: `serve` (the default), `migrate`, `openapi`.

use std::net::TcpListener;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::clock::now;
use crate::config::Settings;
use crate::db::{self, accounts, DbConnection};
use crate::domain::audit::{AuditAction, AuditEntity};
use crate::domain::auth::{check_password, Role};
use crate::error::ApiError;
use crate::service::accounts::{create_user, user_out, NewAccount};
use crate::startup;
use crate::write::{audit_outside_api, NOTHING};

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
    /// Fill an empty database with the seed (Yunfu, 2021) through the API's own code.
    Demo {
        /// Then the province's twenty other cities, with illustrative counties and figures.
        #[arg(long)]
        province: bool,
    },
    /// Exit 0 when the server on SHUANGBAI_BIND's port answers /healthz (for container health checks).
    Healthcheck,
    /// Manage users from the command line (the first admin is made here).
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user. The password is read from SHUANGBAI_PASSWORD or else from standard input,
    /// never from the command line.
    Add {
        username: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Shown in the front-ends; defaults to the username.
        #[arg(long)]
        display_name: Option<String>,
        /// Required for county_officer and integration.
        #[arg(long)]
        county_id: Option<i32>,
        /// Required for city_admin.
        #[arg(long)]
        city_id: Option<i32>,
    },
    /// List users.
    List,
    /// Set a user's password (read like `add`'s); ends the user's sessions.
    SetPassword { username: String },
    /// Deactivate a user; ends the user's sessions at once.
    Deactivate { username: String },
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw)
}

#[allow(clippy::print_stdout, reason = "`openapi` prints the spec")]
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            print!("{}", startup::openapi_json());
            Ok(())
        }
        Command::Migrate => settings().and_then(|s| {
            crate::db::prepare(&s.database_url, &s.db_schema)?;
            log::info!("migrations applied to {}", s.database_url.redacted());
            Ok(())
        }),
        Command::Serve => settings().and_then(serve),
        Command::Healthcheck => healthcheck(),
        Command::Demo { province } => settings().and_then(|s| demo(s, province)),
        Command::User(command) => settings().and_then(|s| user_command(&s, command)),
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

/// The password for `user add` / `user set-password`: `SHUANGBAI_PASSWORD`, or one line of stdin.
fn read_password() -> Result<String, String> {
    if let Ok(pw) = std::env::var("SHUANGBAI_PASSWORD") {
        return Ok(pw);
    }
    eprintln!("password (then Enter):");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn explain(e: ApiError) -> String {
    match e {
        ApiError::Validation(v) => v
            .iter()
            .map(|x| format!("{}: {}", x.field, x.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

#[allow(clippy::print_stdout, reason = "the user commands report on stdout")]
fn user_command(settings: &Settings, command: UserCommand) -> Result<(), String> {
    let pool = startup::prepare_pool(settings)?;
    let mut conn = pool.get().map_err(|e| format!("cannot connect: {e}"))?;
    match command {
        UserCommand::Add {
            username,
            role,
            display_name,
            county_id,
            city_id,
        } => {
            let password = read_password()?;
            let input = NewAccount {
                display_name: display_name.unwrap_or_else(|| username.clone()),
                username,
                role,
                county_id,
                city_id,
                password,
                phone: None,
            };
            let row = db::write_transaction(&mut conn, |c| {
                let row = create_user(c, input)?;
                let out = user_out(row.clone());
                audit_outside_api(
                    c,
                    &cli_actor(),
                    AuditAction::Create,
                    AuditEntity::User,
                    row.id,
                    row.county_id,
                    NOTHING,
                    Some(&out),
                )?;
                Ok(row)
            })
            .map_err(explain)?;
            println!(
                "created user {} (id {}, role {})",
                row.username, row.id, row.role
            );
        }
        UserCommand::List => {
            let (rows, _) =
                accounts::list_users(&mut conn, None, i64::MAX, 0).map_err(|e| e.to_string())?;
            for u in rows {
                println!(
                    "{}\t{}\t{}\tcounty={}\t{}",
                    u.id,
                    u.username,
                    u.role,
                    u.county_id
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "-".into()),
                    if u.active { "active" } else { "inactive" }
                );
            }
        }
        UserCommand::SetPassword { username } => {
            let password = read_password()?;
            check_password(&password).map_err(|m| format!("password: {m}"))?;
            let hash = crate::auth::hash_password(&password)?;
            change_user(&mut conn, &username, AuditAction::SetPassword, |changes| {
                changes.password_hash = Some(hash);
            })?;
            println!("password of {username} changed; its sessions are ended");
        }
        UserCommand::Deactivate { username } => {
            change_user(&mut conn, &username, AuditAction::Deactivate, |changes| {
                changes.active = Some(false)
            })?;
            println!("{username} deactivated; its sessions are ended");
        }
    }
    Ok(())
}

/// Who runs a command, for the audit trail: `cli:` and the operating-system login (`$USER`,
/// else `$LOGNAME`), or `cli` alone.
fn cli_actor() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .map(|login| {
            login
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                .take(64)
                .collect::<String>()
        })
        .filter(|login| !login.is_empty())
        .map_or_else(|| "cli".to_string(), |login| format!("cli:{login}"))
}

/// Applies a change that ends the user's sessions (auth version bumped, sessions and refresh
/// tokens revoked), recorded in the audit trail as `action` in the same transaction.
fn change_user(
    conn: &mut DbConnection,
    username: &str,
    action: AuditAction,
    set: impl FnOnce(&mut accounts::UserChanges),
) -> Result<(), String> {
    let name = username.trim().to_lowercase();
    db::write_transaction(conn, |c| {
        let user = accounts::user_by_username(c, &name)?
            .ok_or_else(|| ApiError::NotFound(format!("no user {name}")))?;
        let mut changes = accounts::UserChanges {
            auth_version: Some(user.auth_version + 1),
            version: Some(user.version + 1),
            updated_at: Some(now()),
            ..Default::default()
        };
        set(&mut changes);
        let row = accounts::update_user(c, user.id, user.version, &changes)?
            .ok_or(ApiError::PreconditionFailed)?;
        accounts::revoke_user_tokens(c, user.id, now())?;
        let (before, after) = (user_out(user), user_out(row));
        audit_outside_api(
            c,
            &cli_actor(),
            action,
            AuditEntity::User,
            after.id,
            after.county_id,
            Some(&before),
            Some(&after),
        )
    })
    .map_err(explain)
}

/// A dependency-free probe of `/healthz` on this machine's configured port.
fn healthcheck() -> Result<(), String> {
    use std::io::{Read, Write};
    let port = std::env::var("SHUANGBAI_BIND")
        .ok()
        .and_then(|b| b.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()))
        .unwrap_or(8080);
    let timeout = std::time::Duration::from_secs(3);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| e.to_string())?;
    if head.ends_with(b"200") {
        Ok(())
    } else {
        Err(format!("unhealthy: {}", String::from_utf8_lossy(&head)))
    }
}

#[allow(clippy::print_stdout, reason = "the command's result is its output")]
fn demo(settings: Settings, province: bool) -> Result<(), String> {
    use crate::demo::Extent;
    let pool = startup::prepare_pool(&settings)?;
    let state = crate::state::AppState::new(pool, settings)?;
    let extent = if province {
        Extent::Province
    } else {
        Extent::City
    };
    let summary = actix_web::rt::System::new().block_on(crate::demo::load_extent(state, extent))?;
    println!("{}", crate::demo::describe(&summary));
    Ok(())
}
