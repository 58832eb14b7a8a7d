//! `hubspot-hitl`: hands a bot conversation to a live agent in a HubSpot Help Desk, and back.
//!
//! A `wasm32-wasip2` component implementing the `hitl:integration@0.1.0` world (`wit/world.wit`).
//! Every HubSpot call goes out through `wasi:http/outgoing-handler`; state, bot-side records, events
//! and logs go through the runtime's `host` interface. The component keeps nothing in memory between
//! calls: a runtime may use a fresh instance per call or many at once over one shared state.
//!
//! This file is the table of contents: each export delegates to the module that owns it.
//!
//! The component is `no_std` (with `alloc`): leaving the standard library out keeps its code and its
//! `wasi:cli` / `wasi:filesystem` imports out of the component, which is a good part of its size.
//! Native builds (unit tests, benchmarks) keep `std`.

#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

mod bindings {
    wit_bindgen::generate!({
        world: "hitl-integration",
        path: "wit",
        with: {
            "wasi:http/types@0.2.12": wasip2::http::types,
            "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:io/streams@0.2.12": wasip2::io::streams,
            "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
            "wasi:clocks/wall-clock@0.2.12": wasip2::clocks::wall_clock,
            "wasi:random/random@0.2.12": wasip2::random::random,
        },
    });
}

pub mod config;
pub mod error;
pub mod events;
pub mod fetch;
pub mod handoff;
pub mod hubspot;
pub mod json;
pub mod media;
#[cfg(target_arch = "wasm32")]
mod nostd;
pub mod oauth;
pub mod platform;
pub mod register;
pub mod signature;
pub mod state;
pub mod users;
pub mod webhook;

use alloc::{string::String, vec::Vec};

use bindings::exports::hitl::integration::handlers::Guest;
use bindings::hitl::integration::types::{
    Context, Error, HistoryEntry, HttpRequest, HttpResponse, MessagePayload,
};

/// The component's exports.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Component;

impl Guest for Component {
    /// Validates the configuration and sets up the custom channel and its account: [`register`].
    fn register(ctx: Context) -> Result<(), Error> {
        register::register(&ctx).map_err(Into::into)
    }

    /// Releases the channel and forgets the installation: [`register::unregister`].
    fn unregister(ctx: Context) -> Result<(), Error> {
        register::unregister(&ctx).map_err(Into::into)
    }

    /// Finds the HubSpot contact and makes the bot-side user: [`users`].
    fn create_user(
        ctx: Context,
        name: Option<String>,
        email: Option<String>,
        phone: Option<String>,
        picture_url: Option<String>,
    ) -> Result<String, Error> {
        users::create_user(&ctx, name, email, phone, picture_url).map_err(Into::into)
    }

    /// Opens the HubSpot thread with the transcript: [`handoff::start`].
    fn start_hitl(
        ctx: Context,
        user_id: String,
        title: Option<String>,
        description: Option<String>,
        history: Vec<HistoryEntry>,
    ) -> Result<String, Error> {
        handoff::start(&ctx, &user_id, title, description, &history).map_err(Into::into)
    }

    /// Forwards an end-user message to the agent: [`handoff::forward`].
    fn message(
        ctx: Context,
        conversation_id: String,
        user_id: String,
        message_id: String,
        payload: MessagePayload,
    ) -> Result<(), Error> {
        handoff::forward(&ctx, &conversation_id, &user_id, &message_id, &payload)
            .map_err(Into::into)
    }

    /// Closes the HubSpot thread and ends the handoff: [`handoff::stop`].
    fn stop_hitl(
        ctx: Context,
        conversation_id: String,
        reason: Option<String>,
    ) -> Result<(), Error> {
        handoff::stop(&ctx, &conversation_id, reason).map_err(Into::into)
    }

    /// Verifies and handles a HubSpot webhook call: [`webhook`].
    fn webhook(ctx: Context, request: HttpRequest) -> HttpResponse {
        webhook::handle(&ctx, request)
    }
}

// Exported only when building the component: native builds (unit tests) cannot carry the
// component model's export names.
#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);
