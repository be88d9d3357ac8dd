#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::backend::main("aleph", aleph::build).await
}
