//! HTTP contract tests against the real application, plus the repository contract suite and
//! end-to-end runs of the compiled binary.

mod helpers;

mod cli;
mod count_contract;
mod delivery_contract;
mod durability;
mod e2e;
mod feed;
mod full_disk;
mod health;
mod messages;
mod migrations;
mod observability;
mod openapi_examples;
mod postgres_search;
mod repository_contract;
mod scale_out;
mod security;
mod stats;
mod twilio;
mod webhook;
mod whatsapp;
