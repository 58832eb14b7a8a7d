//! The `host` interface the component imports, backed by the [`BotStore`](crate::store::BotStore).
//!
//! Every record is kept under the calling installation's integration id (from the call's
//! [`Context`](crate::types::Context)); users and conversations of another installation look absent.
//! Bad input never traps: it is an `Err` text or an absent record. Only a failure of the store itself
//! traps the call (the host reports it as the outer error).

use crate::bindings::hitl::integration::{host, types};
use crate::runtime::CallState;
use crate::types::{Conversation, Event, LogLevel, MessagePayload, Scope, User};

/// Turns a store failure into a trap of the call.
fn trap(error: anyhow::Error) -> wasmtime::Error {
    wasmtime::Error::from_anyhow(error.context("the bot store failed"))
}

impl types::Host for CallState {}

impl CallState {
    fn integration(&self) -> &str {
        &self.call.integration_id
    }
}

impl host::Host for CallState {
    async fn state_get(
        &mut self,
        scope: Scope,
        id: String,
        name: String,
    ) -> wasmtime::Result<Option<String>> {
        self.bot.state_get(scope, &id, &name).map_err(trap)
    }

    async fn state_set(
        &mut self,
        scope: Scope,
        id: String,
        name: String,
        value: String,
    ) -> wasmtime::Result<()> {
        self.bot.state_set(scope, &id, &name, &value).map_err(trap)
    }

    async fn state_delete(
        &mut self,
        scope: Scope,
        id: String,
        name: String,
    ) -> wasmtime::Result<()> {
        self.bot.state_delete(scope, &id, &name).map_err(trap)
    }

    async fn state_swap(
        &mut self,
        scope: Scope,
        id: String,
        name: String,
        expected: Option<String>,
        new: Option<String>,
    ) -> wasmtime::Result<bool> {
        self.bot
            .state_swap(scope, &id, &name, expected.as_deref(), new.as_deref())
            .map_err(trap)
    }

    async fn get_user(&mut self, id: String) -> wasmtime::Result<Option<User>> {
        let found = self.bot.user(&id).map_err(trap)?;
        Ok(found
            .filter(|(integration, _)| integration == self.integration())
            .map(|(_, user)| user))
    }

    async fn get_conversation(&mut self, id: String) -> wasmtime::Result<Option<Conversation>> {
        let found = self.bot.conversation(&id).map_err(trap)?;
        Ok(found
            .filter(|(integration, _)| integration == self.integration())
            .map(|(_, conversation)| conversation))
    }

    async fn get_or_create_user(
        &mut self,
        tags: Vec<(String, String)>,
        name: Option<String>,
        picture_url: Option<String>,
    ) -> wasmtime::Result<User> {
        self.bot
            .get_or_create_user(
                &self.call.integration_id,
                &tags,
                name.as_deref(),
                picture_url.as_deref(),
            )
            .map_err(trap)
    }

    async fn get_or_create_conversation(
        &mut self,
        channel: String,
        tags: Vec<(String, String)>,
    ) -> wasmtime::Result<Conversation> {
        self.bot
            .get_or_create_conversation(&self.call.integration_id, &channel, &tags)
            .map_err(trap)
    }

    async fn create_message(
        &mut self,
        conversation_id: String,
        user_id: String,
        payload: MessagePayload,
        tags: Vec<(String, String)>,
    ) -> wasmtime::Result<Result<String, String>> {
        let created = self
            .bot
            .create_message(
                &self.call.integration_id,
                &conversation_id,
                &user_id,
                &payload,
                &tags,
            )
            .map_err(trap)?;
        Ok(created.map(|message| message.id))
    }

    async fn emit_event(&mut self, event: Event) -> wasmtime::Result<()> {
        self.bot
            .emit_event(&self.call.integration_id, &event)
            .map_err(trap)
    }

    async fn log(&mut self, level: LogLevel, text: String) -> wasmtime::Result<()> {
        let integration = self.integration();
        match level {
            LogLevel::Trace => tracing::trace!(target: "hitl_component", integration, "{text}"),
            LogLevel::Debug => tracing::debug!(target: "hitl_component", integration, "{text}"),
            LogLevel::Info => tracing::info!(target: "hitl_component", integration, "{text}"),
            LogLevel::Warn => tracing::warn!(target: "hitl_component", integration, "{text}"),
            LogLevel::Error => tracing::error!(target: "hitl_component", integration, "{text}"),
        }
        self.bot
            .log(&self.call.integration_id, level, &text)
            .map_err(trap)
    }
}
