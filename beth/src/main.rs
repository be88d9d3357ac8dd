#[tokio::main]
async fn main() -> std::process::ExitCode {
    backend::main("beth", beth::build).await
}
