//! The `catar` command: parses its arguments and hands them to [`catar::app`].

use clap::Parser;

fn main() {
    let cli = catar::cli::Cli::parse();
    std::process::exit(catar::app::main_with(cli));
}
