//! The `modelark` command. Exit codes: 0 ok, 1 not found, verification failed or refused by governance,
//! 2 usage or operational error. A closed stdout (e.g. `| head`) exits 0.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use modelark::error::Class;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(args.verbose);
    let situation = cli::situation(&args);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let error = anyhow::Error::new(error).context("failed to start the async runtime");
            return report(&error, situation);
        }
    };
    runtime.spawn(cli::watch_signals());
    let result = cli::run(args, &runtime);
    if modelark::interrupt::requested() {
        let _ = writeln!(
            std::io::stderr(),
            "error: interrupted; nothing half-written was left (partial downloads are kept and resume on the next run)"
        );
        return ExitCode::from(130);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => report(&error, situation),
    }
}

/// Prints `error:`, each `caused by:` and a `hint:`, and picks the exit code.
fn report(error: &anyhow::Error, situation: cli::hints::Situation) -> ExitCode {
    let broken_pipe = error
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe);
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    let library = error
        .chain()
        .find_map(|e| e.downcast_ref::<modelark::Error>());
    let hint = cli::hints::hint(error, situation);
    let mut stderr = std::io::stderr().lock();
    let mut causes = error.chain();
    if let Some(top) = causes.next() {
        let _ = writeln!(stderr, "error: {}", cli::escape(&top.to_string()));
    }
    for cause in causes {
        // Transparent wrappers repeat their source's message; print it once.
        let _ = writeln!(stderr, "  caused by: {}", cli::escape(&cause.to_string()));
    }
    if let Some(hint) = hint {
        let _ = writeln!(stderr, "  hint: {}", cli::escape(&hint));
    }
    match library.map(modelark::Error::class) {
        Some(Class::NotFound | Class::Verification) => ExitCode::from(1),
        _ => ExitCode::from(2),
    }
}
