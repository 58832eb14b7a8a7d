//! `webhook`: one URL receives HubSpot's app subscription events and the custom channel's events.
//!
//! Order of checks: method (405), size (413), signature v3 (401), content type (415), JSON (400).
//! Then each event is checked to be ours (portal, app, channel, a thread of a live handoff; anything
//! else is acknowledged and ignored) and acted on exactly once, even when HubSpot delivers it twice,
//! out of order, or from several instances at once:
//! - an agent's message → `create-message` from the bot-side user standing for the agent;
//! - an assignment to an agent → `hitl-assigned` with that agent's user (not on unassignment, nor on
//!   a repeated or stale delivery);
//! - the thread closing → `hitl-stopped`, once, and the handoff ends.
//!
//! A failure that a retry can cure (HubSpot or the host failing) answers 503 so that HubSpot retries;
//! what was already done is not done again.

use alloc::{
    borrow::ToOwned,
    format,
    string::{String, ToString},
    vec,
};

use crate::bindings::hitl::integration::host;
use crate::bindings::hitl::integration::types::{
    Context, Event as BotEvent, HitlAssigned, HitlStopped, HttpRequest, HttpResponse,
};
use crate::config::Config;
use crate::error::{HitlError, Result};
use crate::events::{self, ChannelMessage, Event, Origin};
use crate::handoff;
use crate::hubspot::HubSpot;
use crate::json::{Object, Value};
use crate::media;
use crate::platform::{debug, error_log, info, now_ms, warn};
use crate::signature;
use crate::state::{
    self, AGENTS, Agent, Agents, HANDOFF, Handoff, INSTALL, Install, Scope, THREADS, Threads,
};

/// Largest body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Tag on agent users holding HubSpot's actor id.
pub const TAG_ACTOR: &str = "hubspotActorId";
/// Tag on delivered messages holding HubSpot's message id.
pub const TAG_MESSAGE: &str = "hubspotMessageId";

/// What handling one event came to.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// It changed something for the bot.
    Handled,
    /// Not ours, a repeat, or nothing to do.
    Ignored(&'static str),
}

/// Verifies, parses and acts on one webhook call.
pub fn handle(ctx: &Context, request: HttpRequest) -> HttpResponse {
    match process(ctx, &request) {
        Ok(response) => response,
        Err(e) => {
            error_log(&format!("webhook: {e}"));
            let status = if e.is_transient() { 503 } else { 500 };
            refuse(status, "the webhook could not be handled; retry later")
        }
    }
}

fn process(ctx: &Context, request: &HttpRequest) -> Result<HttpResponse> {
    if !request.method.eq_ignore_ascii_case("POST") {
        return Ok(refuse(405, "only POST is accepted"));
    }
    if request.body.len() > MAX_BODY_BYTES {
        warn(&format!(
            "webhook: refused a body of {} bytes",
            request.body.len()
        ));
        return Ok(refuse(413, "body too large"));
    }
    let config = Config::parse(&ctx.configuration)?;
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| core::str::from_utf8(v).ok())
    };
    if let Err(refusal) = signature::verify_v3(
        &config.client_secret,
        &request.method.to_ascii_uppercase(),
        &request.url,
        &request.body,
        header("x-hubspot-signature-v3"),
        header("x-hubspot-request-timestamp"),
        now_ms(),
    ) {
        warn(&format!("webhook: refused, {}", refusal.reason()));
        return Ok(refuse(401, "invalid signature"));
    }
    if header("content-type").is_some_and(|c| !c.to_ascii_lowercase().contains("json")) {
        return Ok(refuse(415, "expected application/json"));
    }
    let events = match events::parse(&request.body) {
        Ok(events) => events,
        Err(e) => {
            warn(&format!("webhook: malformed body: {e}"));
            return Ok(refuse(400, "malformed body"));
        }
    };
    let Some(install) = state::get::<Install>(Scope::Integration, &ctx.integration_id, INSTALL)?
    else {
        warn("webhook: the integration is not registered; events ignored");
        return Ok(summary(events.len(), 0));
    };
    let client = HubSpot::new(&ctx.integration_id, &config);
    // The live handoffs, read once for the whole batch: an event that ends one deletes its handoff
    // record, which later events of the batch then find gone.
    let threads = state::get::<Threads>(Scope::Integration, &ctx.integration_id, THREADS)?
        .unwrap_or_default();
    let mut handled = 0;
    let mut failure: Option<HitlError> = None;
    for event in &events {
        match act(ctx, &config, &install, &client, &threads, event) {
            Ok(Outcome::Handled) => handled += 1,
            Ok(Outcome::Ignored(why)) => debug(&format!("webhook: event ignored ({why})")),
            Err(e) => {
                error_log(&format!("webhook: event failed: {e}"));
                if e.is_transient() || failure.is_none() {
                    failure = Some(e);
                }
            }
        }
    }
    match failure {
        Some(e) if e.is_transient() => Err(e),
        _ => Ok(summary(events.len(), handled)),
    }
}

/// A JSON answer.
fn reply(status: u16, body: Object) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("content-type".to_owned(), b"application/json".to_vec())],
        body: Value::from(body).to_string().into_bytes(),
    }
}

/// A refusal: `{"error": why}`.
fn refuse(status: u16, why: &str) -> HttpResponse {
    reply(status, Object::new().with("error", why))
}

/// The answer to a batch that was read: how many events came and how many changed something.
fn summary(received: usize, handled: usize) -> HttpResponse {
    reply(
        200,
        Object::new()
            .with("received", received)
            .with("handled", handled),
    )
}

/// Whether an event comes from our portal, app and channel.
fn is_ours(origin: &Origin, config: &Config, install: &Install) -> bool {
    let portal_ok = match (origin.portal_id, install.portal_id) {
        (Some(event), Some(ours)) => event == ours,
        _ => true,
    };
    let app_ok = origin.app_id.as_deref().is_none_or(|a| a == config.app_id);
    let channel_ok = origin
        .channel_id
        .as_deref()
        .is_none_or(|c| c == install.channel_id);
    portal_ok && app_ok && channel_ok
}

fn act(
    ctx: &Context,
    config: &Config,
    install: &Install,
    client: &HubSpot,
    threads: &Threads,
    event: &Event,
) -> Result<Outcome> {
    match event {
        Event::Ignored { .. } => Ok(Outcome::Ignored("not an event we act on")),
        Event::ChannelMessage { origin, .. }
        | Event::Assignment { origin, .. }
        | Event::Ended { origin, .. }
            if !is_ours(origin, config, install) =>
        {
            warn("webhook: event for another portal, app or channel ignored");
            Ok(Outcome::Ignored("not ours"))
        }
        Event::ChannelMessage { message, .. } => agent_message(ctx, client, threads, message),
        Event::Assignment {
            thread_id,
            actor_id,
            occurred_at,
            ..
        } => assignment(
            ctx,
            client,
            threads,
            thread_id,
            actor_id.as_deref(),
            *occurred_at,
        ),
        Event::Ended { thread_id, how, .. } => ended(ctx, threads, thread_id, how),
    }
}

/// The live handoff of a HubSpot thread: (conversation id, handoff).
fn handoff_of(threads: &Threads, thread_id: &str) -> Result<Option<(String, Handoff)>> {
    let Some(conversation) = threads.get(thread_id) else {
        return Ok(None);
    };
    Ok(
        state::get::<Handoff>(Scope::Conversation, &conversation, HANDOFF)?
            .filter(|h| !h.stopping && h.thread_id == thread_id)
            .map(|h| (conversation, h)),
    )
}

fn agent_message(
    ctx: &Context,
    client: &HubSpot,
    threads: &Threads,
    message: &ChannelMessage,
) -> Result<Outcome> {
    if !message.direction.eq_ignore_ascii_case("OUTGOING") {
        return Ok(Outcome::Ignored("our own message echoed back"));
    }
    let Some((conversation, _)) = handoff_of(threads, &message.thread_id)? else {
        return Ok(Outcome::Ignored("thread of no live handoff"));
    };
    let Some(payload) = media::incoming_payload(&message.text, &message.attachments) else {
        return Ok(Outcome::Ignored("empty message"));
    };
    if !claim(&conversation, &message.message_id)? {
        return Ok(Outcome::Ignored("already delivered"));
    }
    let delivered = agent_user(
        ctx,
        client,
        message.actor_id.as_deref(),
        message.sender_name.as_deref(),
    )
    .and_then(|user| {
        host::create_message(
            &conversation,
            &user,
            &payload,
            &[(TAG_MESSAGE.to_owned(), message.message_id.clone())],
        )
        .map_err(|e| HitlError::Internal(format!("the bot refused the agent's message: {e}")))
    });
    match delivered {
        Ok(_) => Ok(Outcome::Handled),
        Err(e) => {
            release(&conversation, &message.message_id)?;
            Err(e)
        }
    }
}

/// Marks a HubSpot message as delivered into the conversation; false when it already was.
fn claim(conversation: &str, message_id: &str) -> Result<bool> {
    state::claim_seen(conversation, message_id)
}

/// Undoes [`claim`] after a failed delivery, so HubSpot's retry delivers it.
fn release(conversation: &str, message_id: &str) -> Result<()> {
    state::release_seen(conversation, message_id)
}

/// The bot-side user standing for an agent: looked up in HubSpot once per agent, then kept.
fn agent_user(
    ctx: &Context,
    client: &HubSpot,
    actor_id: Option<&str>,
    fallback_name: Option<&str>,
) -> Result<String> {
    let Some(actor_id) = actor_id else {
        let user = host::get_or_create_user(
            &[(TAG_ACTOR.to_owned(), "unknown".to_owned())],
            Some(fallback_name.unwrap_or("Agent")),
            None,
        );
        return Ok(user.id);
    };
    if let Some(agent) = state::get::<Agents>(Scope::Integration, &ctx.integration_id, AGENTS)?
        .and_then(|a| a.get(actor_id))
    {
        return Ok(agent.user_id);
    }
    let (name, avatar) = match client.get_actor(actor_id) {
        Ok(actor) => {
            let field = |k: &str| {
                actor
                    .get(k)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
                    .filter(|s| !s.is_empty())
            };
            (
                field("name").or_else(|| fallback_name.map(str::to_owned)),
                field("avatar"),
            )
        }
        Err(HitlError::NotFound(_)) => (fallback_name.map(str::to_owned), None),
        Err(e) => return Err(e),
    };
    let user = host::get_or_create_user(
        &[(TAG_ACTOR.to_owned(), actor_id.to_owned())],
        name.as_deref(),
        avatar.as_deref(),
    );
    let agent = Agent {
        user_id: user.id.clone(),
        name,
    };
    state::update::<Agents, _>(Scope::Integration, &ctx.integration_id, AGENTS, |a| {
        let mut a = a.unwrap_or_default();
        a.insert(actor_id, &agent);
        Some(a)
    })?;
    Ok(user.id)
}

fn assignment(
    ctx: &Context,
    client: &HubSpot,
    threads: &Threads,
    thread_id: &str,
    actor_id: Option<&str>,
    occurred_at: u64,
) -> Result<Outcome> {
    let Some((conversation, current)) = handoff_of(threads, thread_id)? else {
        return Ok(Outcome::Ignored("thread of no live handoff"));
    };
    let stale = |h: &Handoff| occurred_at != 0 && occurred_at < h.assignment_at_ms;
    if stale(&current) || current.assigned_to.as_deref() == actor_id {
        return Ok(Outcome::Ignored("repeated or stale assignment"));
    }
    let agent = match actor_id {
        Some(a) => Some(agent_user(ctx, client, Some(a), None)?),
        None => None,
    };
    let (before, after) =
        state::update::<Handoff, _>(Scope::Conversation, &conversation, HANDOFF, |h| {
            h.map(|mut h| {
                if !h.stopping && !stale(&h) && h.assigned_to.as_deref() != actor_id {
                    h.assigned_to = actor_id.map(str::to_owned);
                    h.assignment_at_ms = occurred_at.max(h.assignment_at_ms);
                }
                h
            })
        })?;
    let changed = before.map(|b| b.assigned_to) != after.as_ref().map(|a| a.assigned_to.clone());
    match (changed, agent) {
        (true, Some(user_id)) => {
            host::emit_event(&BotEvent::HitlAssigned(HitlAssigned {
                conversation_id: conversation.clone(),
                user_id,
            }));
            info(&format!("handoff {conversation}: agent assigned"));
            Ok(Outcome::Handled)
        }
        (true, None) => Ok(Outcome::Handled),
        (false, _) => Ok(Outcome::Ignored("assignment already applied")),
    }
}

fn ended(ctx: &Context, threads: &Threads, thread_id: &str, how: &str) -> Result<Outcome> {
    let Some(conversation) = threads.get(thread_id) else {
        return Ok(Outcome::Ignored("thread of no live handoff"));
    };
    let Some(raw) = state::get_raw(Scope::Conversation, &conversation, HANDOFF) else {
        return Ok(Outcome::Ignored("handoff already ended"));
    };
    let handoff: Handoff = state::decode(HANDOFF, &raw)?;
    if handoff.stopping || handoff.thread_id != thread_id {
        return Ok(Outcome::Ignored("our own stop, or another thread"));
    }
    if !state::swap(
        Scope::Conversation,
        &conversation,
        HANDOFF,
        Some(&raw),
        None,
    ) {
        return Ok(Outcome::Ignored("another delivery ended it first"));
    }
    handoff::end(&ctx.integration_id, &conversation, thread_id)?;
    host::emit_event(&BotEvent::HitlStopped(HitlStopped {
        conversation_id: conversation.clone(),
    }));
    info(&format!("handoff {conversation} ended by HubSpot ({how})"));
    Ok(Outcome::Handled)
}
