use std::process::ExitCode;

use shared::backend::Config;

#[tokio::main]
async fn main() -> ExitCode {
    shared::cli::run("beth", |env| {
        let config = Config::from_source(env).map_err(|e| e.to_string())?;
        beth::build(&config).map_err(|e| e.to_string())
    })
    .await
}
