use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let options = match loader::Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(error) if error.use_stderr() => {
            // What is wrong, then the usage.
            let _ = error.print();
            eprintln!("\n{}", loader::options::usage());
            return ExitCode::from(2);
        }
        // --help
        Err(help) => help.exit(),
    };
    let json = options.json;
    let report = loader::run(options, std::io::stdout()).await;
    let mut out = std::io::stdout();
    let _ = loader::print_summary(&mut out, &report);
    if json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    }
    ExitCode::from(report.exit_code() as u8)
}
