#[tokio::main]
async fn main() -> std::process::ExitCode {
    shared::backend::main("beth", beth::build).await
}
