//! The OnAir desktop app: a thin Tauri v2 shell. Logic lives in the crates;
//! this file wires the builder, state and commands.

mod commands;
mod error;
mod state;

/// Builds and runs the app.
pub fn run() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ONAIR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let result = tauri::Builder::default()
        .manage(state::AppState::default())
        .invoke_handler(tauri::generate_handler![
            commands::stream::go_live,
            commands::stream::stop
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("onair-app: {e}");
        std::process::exit(1);
    }
}
