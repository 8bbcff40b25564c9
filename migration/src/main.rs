//! Applies or inspects migrations by hand: `cargo run -p migration --features cli -- up`.

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(migration::Migrator).await;
}
