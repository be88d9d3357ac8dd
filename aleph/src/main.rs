#[tokio::main]
async fn main() -> std::process::ExitCode {
    backend::main("aleph", aleph::build).await
}
