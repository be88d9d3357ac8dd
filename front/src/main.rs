use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    shared::cli::run("front", |env| {
        let config = front::Config::from_source(env).map_err(|e| e.to_string())?;
        front::build(&config).map_err(|e| e.to_string())
    })
    .await
}
