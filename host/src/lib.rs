//! `hitl_host`: a wasmtime host for the `hubspot-hitl` component (world `hitl:integration/hitl-integration`).
//!
//! It loads the component for tests, benchmarks, the demo and a local runner:
//! - [`runtime`]: compile once (cached on disk), instantiate per call with memory and time bounds, and
//!   call the `handlers` exports through typed wrappers;
//! - [`store`]: the bot side (state, users, conversations, messages, events, logs) in SQLite, which the
//!   component's `host` imports read and write;
//! - [`http`]: the component's outgoing HTTP, with HubSpot's API base URL rewritable to a simulator;
//! - [`webhook_server`]: the public webhook endpoint that forwards to the `webhook` export;
//! - [`component`]: builds the component from the current source;
//! - [`testkit`]: all of the above wired to a `hubspot-sim` simulator.

pub mod bindings;
pub mod component;
pub mod http;
mod imports;
pub mod runtime;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod types;
pub mod webhook_server;

pub use component::build_component;
pub use runtime::{LoadSource, Runtime, RuntimeConfig};
pub use store::{BotMessage, BotNotice, BotStore};
pub use types::HitlError;
pub use webhook_server::WebhookServer;

/// The OAuth scopes the integration needs, in the order of `oauth.scopes` in
/// `integration.definition.json` (a test keeps the two equal): `hitl-host setup` asks for exactly
/// these, and the README lists them.
pub const SCOPES: &[&str] = &[
    "conversations.custom_channels.read",
    "conversations.custom_channels.write",
    "conversations.read",
    "conversations.write",
    "crm.objects.contacts.read",
    "files",
];
