//! `atenet serve`: parse the command line, start the node, print the
//! first-run `tok connect` line, run until SIGINT/SIGTERM.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

use atenet::{Cli, Command};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    let Command::Serve(args) = cli.command;
    let config = match args.resolve() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("atenet: {err:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("atenet: starting the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("atenet: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: atenet::Config) -> anyhow::Result<()> {
    // Install the handlers before anything can take long, so a signal during
    // startup is not the default "terminate without leaving".
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let data_dir = config.data_dir.clone();
    let node = atenet::start(config).await?;
    if let Some(line) = node.connect_line() {
        println!("{line}");
        eprintln!(
            "Created network `default`. Run the line above (as root) on a machine to join it;\n\
             more keys: `tok key issue default --data-dir {}`",
            data_dir.display()
        );
    }
    node.run_until(async {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
        }
    })
    .await
}
