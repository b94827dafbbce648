//! The `modelark` command. Exit codes: 0 ok, 1 not found, verification failed or refused by governance,
//! 2 usage or operational error, 130 interrupted. A closed stdout (e.g. `| head`) exits 0.
//!
//! The command is [`cli::main`], which the Python package's `modelark` command runs too.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(cli::main(std::env::args_os()))
}
