//! The terminal chat of `serve`: the person at the keyboard is the end user.

use hitl_host::BotNotice;
use hitl_host::types::{Author, Event, HistoryEntry, MessagePayload};
use tokio::sync::broadcast;

use super::input::Input;
use super::ops::Ops;

/// How the chat ended.
pub enum ChatEnd {
    /// The user typed `/quit`.
    Quit,
    /// Standard input ended.
    InputClosed,
}

/// Where the chat is.
enum Mode {
    /// Talking to the stand-in bot.
    Bot,
    /// `/human` asked for the user's email.
    AskEmail,
    /// Handed over: talking to the help desk.
    Handoff {
        /// The handoff conversation.
        conversation: String,
        /// The end user.
        user: String,
    },
}

const HELP: &str = "\
chat: you are the end user. Type to talk to the bot; /human hands you over to an agent; /stop ends \
the handoff; /help shows this; /quit stops serving.";

/// What the stand-in bot answers before a handoff.
const BOT_REPLY: &str = "I am a stand-in bot. Type /human to talk to a person.";

/// Runs the chat until `/quit` or the end of input.
pub async fn run(ops: Ops, mut input: Input, mut email: Option<String>) -> ChatEnd {
    let mut notices = ops.bot.subscribe();
    let mut mode = Mode::Bot;
    let mut history: Vec<HistoryEntry> = Vec::new();
    println!("{HELP}");
    loop {
        tokio::select! {
            line = input.line() => {
                let Some(line) = line else { return ChatEnd::InputClosed };
                let line = line.trim().to_owned();
                if line.is_empty() {
                    continue;
                }
                if line == "/quit" {
                    return ChatEnd::Quit;
                }
                mode = step(&ops, mode, &line, &mut email, &mut history).await;
            }
            notice = notices.recv() => {
                if let (Ok(BotNotice::Event { event: Event::HitlStopped(stopped), .. }),
                        Mode::Handoff { conversation, .. }) = (&notice, &mode)
                    && &stopped.conversation_id == conversation
                {
                    println!("chat: the agent ended the handoff; you are back with the bot");
                    mode = Mode::Bot;
                    history.clear();
                }
                if let Err(broadcast::error::RecvError::Closed) = notice {
                    return ChatEnd::InputClosed;
                }
            }
        }
    }
}

/// Handles one typed line in `mode`; returns the next mode.
async fn step(
    ops: &Ops,
    mode: Mode,
    line: &str,
    email: &mut Option<String>,
    history: &mut Vec<HistoryEntry>,
) -> Mode {
    match (mode, line) {
        (mode, "/help") => {
            println!("{HELP}");
            mode
        }
        (Mode::Handoff { conversation, user }, "/human") => {
            println!("chat: you are already handed over ({conversation})");
            Mode::Handoff { conversation, user }
        }
        (Mode::Handoff { conversation, .. }, "/stop") => {
            match ops
                .stop(&conversation, Some("the user ended the chat"))
                .await
            {
                Ok(()) => println!("chat: handoff ended; you are back with the bot"),
                Err(error) => println!("chat: could not end the handoff: {error}"),
            }
            history.clear();
            Mode::Bot
        }
        (Mode::Handoff { conversation, user }, text) => {
            let payload = MessagePayload::Text(text.to_owned());
            if let Err(error) = ops.send(&conversation, Some(&user), None, &payload).await {
                println!("chat: not delivered: {error}");
            }
            Mode::Handoff { conversation, user }
        }
        (_, "/stop") => {
            println!("chat: there is no handoff to stop");
            Mode::Bot
        }
        (_, "/human") => match email.clone() {
            Some(address) => escalate(ops, &address, history).await,
            None => {
                println!("chat: your email (a contact that exists in HubSpot)?");
                Mode::AskEmail
            }
        },
        (Mode::AskEmail, address) => {
            *email = Some(address.to_owned());
            escalate(ops, address, history).await
        }
        (Mode::Bot, text) => {
            history.push(entry(Author::User, text));
            println!("bot: {BOT_REPLY}");
            history.push(entry(Author::Bot, BOT_REPLY));
            Mode::Bot
        }
    }
}

fn entry(author: Author, text: &str) -> HistoryEntry {
    HistoryEntry {
        author,
        payload: MessagePayload::Text(text.to_owned()),
        sent_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| u64::try_from(d.as_millis()).ok()),
    }
}

/// Hands the user over (or resumes the user's live handoff after a restart).
async fn escalate(ops: &Ops, email: &str, history: &[HistoryEntry]) -> Mode {
    let user = match ops.create_user(None, Some(email), None, None).await {
        Ok(user) => user,
        Err(error) => {
            println!("chat: cannot hand over: {error}");
            return Mode::Bot;
        }
    };
    if let Some(conversation) = ops.live_handoff_of(&user) {
        println!("chat: resuming your handoff {conversation}");
        return Mode::Handoff { conversation, user };
    }
    let description = history
        .iter()
        .rev()
        .find(|e| matches!(e.author, Author::User))
        .and_then(|e| match &e.payload {
            MessagePayload::Text(text) => Some(text.clone()),
            _ => None,
        });
    match ops
        .start(
            &user,
            Some("Chat from hitl-host"),
            description.as_deref(),
            history,
        )
        .await
    {
        Ok(conversation) => {
            println!(
                "chat: handed over ({conversation}, HubSpot thread {}); an agent will answer here",
                ops.thread_of(&conversation).unwrap_or_default()
            );
            Mode::Handoff { conversation, user }
        }
        Err(error) => {
            println!("chat: cannot hand over: {error}");
            Mode::Bot
        }
    }
}
