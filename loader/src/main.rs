use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().is_some_and(|a| a == "serve") {
        return match loader::serve::ServeOptions::parse(args.skip(1)) {
            Ok(options) => match loader::serve::serve(options).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("loader serve: {error}");
                    ExitCode::from(2)
                }
            },
            Err(error) => {
                let code = if error.use_stderr() { 2 } else { 0 };
                let _ = error.print();
                ExitCode::from(code)
            }
        };
    }
    let options = match loader::Options::parse(args) {
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
