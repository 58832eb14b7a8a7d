//! `hitl-host demo`: a whole handoff with the real component against an in-process `hubspot-sim`,
//! told as a transcript of both sides.

use std::net::SocketAddr;

use anyhow::{Context as _, Result, anyhow, bail};
use clap::Args;
use hitl_host::testkit::configuration_for;
use hitl_host::types::{
    Author, Context, Event, FileRef, HistoryEntry, MessagePayload, Scope, SimplePayload,
};
use hitl_host::{BotStore, HitlError, Runtime, WebhookServer};
use hubspot_sim::{DeliveryKind, NewContact, SimConfig, Simulator, UploadedFile};
use serde_json::Value;

use super::ComponentArgs;
use super::errors;
use super::load;
use super::local::install_of;
use super::payload;

/// `hitl-host demo` options.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Which component to run.
    #[command(flatten)]
    pub component: ComponentArgs,
}

/// The demo installation's id.
const INTEGRATION_ID: &str = "hubspot-demo";

/// The steps, in order (their titles).
const STEPS: &[&str] = &[
    "register: find or make the custom channel and connect it to the help desk",
    "the user talks to the bot and asks for a human",
    "the bot escalates with its transcript (create-user, start-hitl)",
    "the user writes while waiting: a text and a file",
    "an agent takes the conversation",
    "the agent replies with a text and a file",
    "the user answers",
    "the agent closes the conversation",
];

/// A receipt the user sends (a tiny PDF).
const RECEIPT: &[u8] = b"%PDF-1.4\n% receipt for order 1234\n%%EOF\n";

/// The label the agent sends back.
const LABEL: &[u8] = b"%PDF-1.4\n% shipping label for order 1234\n%%EOF\n";

/// Runs the demo; exit code 0 only when every step happened.
pub async fn run(args: DemoArgs) -> Result<i32> {
    let path = load::component_path(&args.component.component)?;
    let sim = Simulator::start(SimConfig::default())
        .await
        .context("starting the HubSpot simulator")?;
    println!(
        "hitl-host demo: a whole handoff with the real component, against a simulated HubSpot at {}",
        sim.base_url()
    );
    let bot = BotStore::in_memory()?;
    let runtime = load::runtime(&path, bot.clone(), Some(sim.base_url())).await?;
    let server =
        WebhookServer::start(runtime.clone(), SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let ctx = Context {
        integration_id: INTEGRATION_ID.to_owned(),
        bot_id: "demo-bot".to_owned(),
        webhook_url: server.url_for(INTEGRATION_ID),
        configuration: configuration_for(&sim.config()).to_string(),
    };
    server.add_installation(ctx.clone());
    sim.set_app_webhook_url(Some(ctx.webhook_url.clone()));
    println!("the component's webhook endpoint: {}", ctx.webhook_url);

    let mut demo = Demo {
        sim: sim.clone(),
        bot,
        runtime,
        ctx,
        step: 0,
        requests_seen: 0,
        deliveries_seen: 0,
        messages_seen: 0,
        events_seen: 0,
        calls: 0,
        webhooks: 0,
        events: Vec::new(),
    };
    let outcome = demo.play().await;
    server.shutdown();
    sim.shutdown().await;
    match outcome {
        Ok(()) => {
            println!(
                "demo passed: all {} steps happened; {} HubSpot calls, {} webhooks, events {}",
                STEPS.len(),
                demo.calls,
                demo.webhooks,
                demo.events.join(" and ")
            );
            Ok(0)
        }
        Err(error) => {
            println!("      FAILED   {error:#}");
            println!(
                "demo FAILED at step {} of {} ({}); {} HubSpot calls, {} webhooks",
                demo.step,
                STEPS.len(),
                STEPS.get(demo.step.saturating_sub(1)).unwrap_or(&""),
                demo.calls,
                demo.webhooks
            );
            Ok(1)
        }
    }
}

/// The demo's world and how much of it has been told.
struct Demo {
    sim: Simulator,
    bot: BotStore,
    runtime: Runtime,
    ctx: Context,
    step: usize,
    requests_seen: usize,
    deliveries_seen: usize,
    messages_seen: usize,
    events_seen: usize,
    calls: usize,
    webhooks: usize,
    events: Vec<String>,
}

/// The component's answer, or a failed step naming the call.
fn accepted<T>(call: &str, result: Result<Result<T, HitlError>>) -> Result<T> {
    match result? {
        Ok(value) => Ok(value),
        Err(error) => Err(anyhow!(
            "{call} was refused: {}: {}",
            errors::kind(&error),
            errors::message(&error)
        )),
    }
}

fn line(role: &str, text: &str) {
    println!("      {role:<8} {text}");
}

fn check(condition: bool, what: &str) -> Result<()> {
    if condition { Ok(()) } else { bail!("{what}") }
}

impl Demo {
    fn begin(&mut self) {
        self.step += 1;
        println!("[{}/{}] {}", self.step, STEPS.len(), STEPS[self.step - 1]);
    }

    /// Prints the HubSpot calls made since the last time.
    fn tell_calls(&mut self) {
        let requests = self.sim.requests();
        for request in requests.iter().skip(self.requests_seen) {
            if request.path.starts_with("/_sim") {
                continue;
            }
            self.calls += 1;
            line(
                "hubspot",
                &format!("{} -> {}", request.endpoint, request.status),
            );
        }
        self.requests_seen = requests.len();
    }

    /// Forgets calls made by the demo itself (checking a file), so they are not told.
    fn skip_calls(&mut self) {
        self.requests_seen = self.sim.requests().len();
    }

    /// Prints the webhooks HubSpot sent since the last time.
    fn tell_webhooks(&mut self) {
        let deliveries = self.sim.deliveries();
        for delivery in deliveries.iter().skip(self.deliveries_seen) {
            self.webhooks += 1;
            let body: Value = serde_json::from_str(&delivery.body).unwrap_or(Value::Null);
            let what = match delivery.kind {
                DeliveryKind::ChannelWebhook => {
                    format!("channel {}", body["type"].as_str().unwrap_or("webhook"))
                }
                DeliveryKind::AppWebhook => {
                    let kinds: Vec<String> = body
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                        .iter()
                        .map(|event| {
                            let kind = event["subscriptionType"].as_str().unwrap_or("event");
                            match event["propertyName"].as_str() {
                                Some(property) => format!("{kind} {property}"),
                                None => kind.to_owned(),
                            }
                        })
                        .collect();
                    format!("app {}", kinds.join(", "))
                }
            };
            let status = delivery
                .status
                .map_or_else(|| "no answer".to_owned(), |s| s.to_string());
            line("webhook", &format!("{what} -> {status}"));
        }
        self.deliveries_seen = deliveries.len();
    }

    /// Prints what reached the bot since the last time: the agent's messages and the events.
    fn tell_bot_side(&mut self, conversation: &str) {
        let messages = self.bot.messages(conversation);
        for message in messages.iter().skip(self.messages_seen) {
            let name = self
                .bot
                .user(&message.user_id)
                .ok()
                .flatten()
                .and_then(|(_, user)| user.name)
                .unwrap_or_else(|| message.user_id.clone());
            line(
                "agent",
                &format!("{name}: {}", payload::describe(&message.payload)),
            );
        }
        self.messages_seen = messages.len();
        let events = self.bot.events();
        for (_, event) in events.iter().skip(self.events_seen) {
            match event {
                Event::HitlAssigned(assigned) => {
                    let name = self
                        .bot
                        .user(&assigned.user_id)
                        .ok()
                        .flatten()
                        .and_then(|(_, user)| user.name)
                        .unwrap_or_default();
                    line(
                        "event",
                        &format!(
                            "hitl-assigned: {name} ({}) took {}",
                            assigned.user_id, assigned.conversation_id
                        ),
                    );
                    self.events.push("hitl-assigned".into());
                }
                Event::HitlStopped(stopped) => {
                    line(
                        "event",
                        &format!("hitl-stopped: {} ended", stopped.conversation_id),
                    );
                    self.events.push("hitl-stopped".into());
                }
            }
        }
        self.events_seen = events.len();
    }

    async fn send(
        &mut self,
        conversation: &str,
        user: &str,
        id: &str,
        payload: MessagePayload,
    ) -> Result<()> {
        line("user", &format!("Ada: {}", payload::describe(&payload)));
        accepted(
            "message",
            self.runtime
                .message(&self.ctx, conversation, user, id, &payload)
                .await,
        )
    }

    async fn play(&mut self) -> Result<()> {
        let (rt, ctx) = (self.runtime.clone(), self.ctx.clone());

        self.begin();
        accepted("register", rt.register(&ctx).await)?;
        self.tell_calls();
        let install = install_of(&self.bot, &ctx.integration_id)
            .context("register left no installation record")?;
        line(
            "ok",
            &format!(
                "channel {} \"{}\" connected to help desk inbox {} as channel account {}",
                install.channel_id,
                install.channel_name,
                install.inbox_id,
                install.channel_account_id
            ),
        );

        self.begin();
        self.sim.add_contact(NewContact {
            email: Some("ada@example.com".into()),
            firstname: Some("Ada".into()),
            lastname: Some("Lovelace".into()),
            ..NewContact::default()
        });
        let agent = self
            .sim
            .add_agent("Grace Hopper", "grace@helpdesk.example", None);
        let chat = [
            (Author::User, "Hi! My parcel for order 1234 never arrived."),
            (
                Author::Bot,
                "Sorry to hear that. I can track parcels: it shows as delivered yesterday.",
            ),
            (
                Author::User,
                "It was not. I would like to talk to a human, please.",
            ),
            (
                Author::Bot,
                "Of course: I am handing you over to our support team.",
            ),
        ];
        let mut history = Vec::new();
        for (author, text) in chat {
            match author {
                Author::User => line("user", &format!("Ada: {text}")),
                Author::Bot => line("bot", text),
            }
            history.push(HistoryEntry {
                author,
                payload: MessagePayload::Text(text.into()),
                sent_at: None,
            });
        }

        self.begin();
        let user = accepted(
            "create-user",
            rt.create_user(
                &ctx,
                Some("Ada Lovelace"),
                Some("ada@example.com"),
                None,
                None,
            )
            .await,
        )?;
        let conversation = accepted(
            "start-hitl",
            rt.start_hitl(
                &ctx,
                &user,
                Some("Parcel 1234 missing"),
                Some("The customer says parcel 1234 never arrived."),
                &history,
            )
            .await,
        )?;
        self.tell_calls();
        let thread = self
            .bot
            .conversation(&conversation)?
            .and_then(|(_, c)| {
                c.tags
                    .into_iter()
                    .find(|(k, _)| k == "hubspotThreadId")
                    .map(|(_, v)| v)
            })
            .context("the handoff conversation has no HubSpot thread")?;
        line(
            "ok",
            &format!(
                "bot user {user}, handoff conversation {conversation} <-> HubSpot thread {thread}; the agent sees:"
            ),
        );
        let opening = self
            .sim
            .thread_messages(&thread)
            .first()
            .and_then(|m| m["text"].as_str().map(str::to_owned))
            .unwrap_or_default();
        for text in opening.lines() {
            line("", &format!("| {text}"));
        }
        check(
            opening.contains("never arrived") && opening.contains("talk to a human"),
            "the agent's first message lacks the transcript",
        )?;

        self.begin();
        self.send(
            &conversation,
            &user,
            "demo-1",
            MessagePayload::Text("Are you there?".into()),
        )
        .await?;
        let receipt_url = self
            .sim
            .host_file("receipt.pdf", "application/pdf", RECEIPT.to_vec());
        self.send(
            &conversation,
            &user,
            "demo-2",
            MessagePayload::File(FileRef {
                url: receipt_url,
                title: Some("receipt.pdf".into()),
            }),
        )
        .await?;
        self.tell_calls();
        let messages = self.sim.thread_messages(&thread);
        check(
            messages.iter().any(|m| m["text"] == "Are you there?"),
            "the user's text did not reach the thread",
        )?;
        let attached = messages
            .iter()
            .flat_map(|m| m["attachments"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a["fileId"].as_str().map(str::to_owned))
            .any(|id| self.sim.file_bytes(&id).as_deref() == Some(RECEIPT));
        check(
            attached,
            "the user's file did not reach the thread as an attachment",
        )?;
        line(
            "ok",
            "both are in the HubSpot thread; the receipt is an attachment with the very bytes",
        );

        self.begin();
        self.sim.assign(&thread, &agent).await?;
        self.tell_webhooks();
        self.tell_calls();
        self.tell_bot_side(&conversation);
        check(
            self.events.iter().any(|e| e == "hitl-assigned"),
            "no hitl-assigned event",
        )?;

        self.begin();
        line(
            "agent",
            "Grace Hopper types a reply in the help desk and attaches label.pdf",
        );
        self.sim
            .agent_reply(
                &thread,
                &agent,
                "Found it! Here is your new shipping label.",
                vec![UploadedFile {
                    name: "label.pdf".into(),
                    content_type: "application/pdf".into(),
                    bytes: LABEL.to_vec(),
                }],
            )
            .await?;
        self.tell_webhooks();
        self.tell_calls();
        self.tell_bot_side(&conversation);
        let received = self.bot.messages(&conversation);
        let file_url = received.iter().find_map(|m| match &m.payload {
            MessagePayload::Bloc(parts) => parts.iter().find_map(|p| match p {
                SimplePayload::File(file) => Some(file.url.clone()),
                _ => None,
            }),
            MessagePayload::File(file) => Some(file.url.clone()),
            _ => None,
        });
        check(
            received
                .iter()
                .any(|m| payload::describe(&m.payload).contains("new shipping label")),
            "the agent's text did not reach the bot",
        )?;
        let file_url = file_url.context("the agent's file did not reach the bot")?;
        let bytes = reqwest::get(&file_url)
            .await
            .context("downloading the agent's file")?
            .bytes()
            .await
            .context("downloading the agent's file")?;
        self.skip_calls();
        check(
            bytes.as_ref() == LABEL,
            "the bot got other bytes than the agent's file",
        )?;
        line("ok", "the bot downloaded the agent's very file");

        self.begin();
        self.send(
            &conversation,
            &user,
            "demo-3",
            MessagePayload::Text("Thank you, that was quick!".into()),
        )
        .await?;
        self.tell_calls();
        check(
            self.sim
                .thread_messages(&thread)
                .iter()
                .any(|m| m["text"] == "Thank you, that was quick!"),
            "the user's answer did not reach the thread",
        )?;

        self.begin();
        self.sim.close_thread(&thread).await?;
        self.tell_webhooks();
        self.tell_calls();
        self.tell_bot_side(&conversation);
        check(
            self.events.iter().any(|e| e == "hitl-stopped"),
            "no hitl-stopped event",
        )?;
        check(
            self.bot
                .state_get(Scope::Conversation, &conversation, "handoff")?
                .is_none(),
            "the handoff is still recorded after the close",
        )?;
        line("ok", "the handoff ended; the bot has the conversation back");
        Ok(())
    }
}
