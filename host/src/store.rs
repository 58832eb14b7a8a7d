//! The bot side of the runtime: state, users, conversations, messages, events and logs, in SQLite.
//!
//! One connection behind a mutex serves every call of a process, so `state_swap` is atomic across
//! concurrent calls; writes that read first run in an immediate transaction, so a file shared by
//! several processes stays consistent too.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context as _, Result};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use tokio::sync::broadcast;

use crate::types::{Conversation, Event, LogLevel, MessagePayload, Scope, User};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS state (
    scope TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (scope, id, name)
);
CREATE TABLE IF NOT EXISTS users (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, integration TEXT NOT NULL,
    name TEXT, picture TEXT, tags TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS users_integration ON users (integration);
CREATE TABLE IF NOT EXISTS conversations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, integration TEXT NOT NULL,
    channel TEXT NOT NULL, tags TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_integration ON conversations (integration, channel);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, integration TEXT NOT NULL,
    conversation_id TEXT NOT NULL, user_id TEXT NOT NULL, payload TEXT NOT NULL, tags TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages (conversation_id);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, integration TEXT NOT NULL, event TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS logs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, integration TEXT NOT NULL, level TEXT NOT NULL,
    text TEXT NOT NULL
);
";

/// How many notices a slow subscriber may fall behind before it misses some.
const NOTICE_CAPACITY: usize = 1024;

/// A message delivered into a bot conversation.
#[derive(Clone, Debug, PartialEq)]
pub struct BotMessage {
    /// The runtime's id for the message.
    pub id: String,
    /// The conversation it belongs to.
    pub conversation_id: String,
    /// Who wrote it (an end user, or the bot-side user that stands for an agent).
    pub user_id: String,
    /// What it says.
    pub payload: MessagePayload,
    /// Labels, e.g. the help desk's message id.
    pub tags: Vec<(String, String)>,
}

/// Something new on the bot side, for a live view such as a CLI chat.
#[derive(Clone, Debug)]
pub enum BotNotice {
    /// A message was delivered into a conversation.
    Message {
        /// The installation that delivered it (the empty string for bot-side helpers' own messages
        /// when no integration is named).
        integration: String,
        /// The message.
        message: BotMessage,
    },
    /// An installation emitted an event.
    Event {
        /// The installation that emitted it.
        integration: String,
        /// The event.
        event: Event,
    },
}

/// The bot side: state, users, conversations, messages, events, logs. SQLite (in memory or a file).
#[derive(Clone)]
pub struct BotStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    notices: broadcast::Sender<BotNotice>,
}

impl std::fmt::Debug for BotStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotStore").finish_non_exhaustive()
    }
}

/// The text a scope is stored under.
fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Integration => "integration",
        Scope::Conversation => "conversation",
        Scope::User => "user",
    }
}

fn scope_from_name(name: &str) -> Option<Scope> {
    match name {
        "integration" => Some(Scope::Integration),
        "conversation" => Some(Scope::Conversation),
        "user" => Some(Scope::User),
        _ => None,
    }
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

fn level_from_name(name: &str) -> LogLevel {
    match name {
        "trace" => LogLevel::Trace,
        "debug" => LogLevel::Debug,
        "warn" => LogLevel::Warn,
        "error" => LogLevel::Error,
        _ => LogLevel::Info,
    }
}

fn tags_json(tags: &[(String, String)]) -> Result<String> {
    serde_json::to_string(tags).context("encoding tags")
}

fn tags_from_json(json: &str) -> Vec<(String, String)> {
    serde_json::from_str(json).unwrap_or_default()
}

/// Whether `have` carries every one of `wanted`. Lookups by tags let SQLite pick the rows that carry
/// the first wanted tag (its JSON functions read the stored tags) and check the rest here.
fn carries_all(have: &[(String, String)], wanted: &[(String, String)]) -> bool {
    wanted.iter().all(|w| have.contains(w))
}

/// The first record that `sql` yields (rows already narrowed to those carrying the first wanted tag)
/// that carries every one of `tags`.
fn first_carrying<T>(
    tx: &Transaction<'_>,
    sql: &str,
    params: impl rusqlite::Params,
    from_row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<(String, T)>,
    tags_of: impl Fn(&T) -> &[(String, String)],
    tags: &[(String, String)],
) -> rusqlite::Result<Option<T>> {
    let mut stmt = tx.prepare_cached(sql)?;
    let rows = stmt.query_map(params, from_row)?;
    for row in rows {
        let (_, record) = row?;
        if carries_all(tags_of(&record), tags) {
            return Ok(Some(record));
        }
    }
    Ok(None)
}

/// The next id of `table` (`<prefix>-<n>`), inside the caller's transaction.
fn next_id(tx: &Transaction<'_>, table: &str, prefix: &str) -> Result<String> {
    let n: i64 = tx
        .query_row(
            &format!("SELECT COALESCE(MAX(seq), 0) + 1 FROM {table}"),
            [],
            |r| r.get(0),
        )
        .with_context(|| format!("numbering a new row of {table}"))?;
    Ok(format!("{prefix}-{n}"))
}

fn user_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, User)> {
    let tags: String = row.get(4)?;
    Ok((
        row.get(1)?,
        User {
            id: row.get(0)?,
            name: row.get(2)?,
            picture_url: row.get(3)?,
            tags: tags_from_json(&tags),
        },
    ))
}

fn conversation_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, Conversation)> {
    let tags: String = row.get(3)?;
    Ok((
        row.get(1)?,
        Conversation {
            id: row.get(0)?,
            channel: row.get(2)?,
            tags: tags_from_json(&tags),
        },
    ))
}

impl BotStore {
    /// A store that lives in memory and ends with the last clone.
    pub fn in_memory() -> Result<Self> {
        Self::from_connection(Connection::open_in_memory().context("opening an in-memory SQLite")?)
    }

    /// A store kept in the SQLite file at `path` (created when missing).
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("opening the bot store {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .context("setting the SQLite busy timeout")?;
        Self::from_connection(conn)
    }

    fn from_connection(conn: Connection) -> Result<Self> {
        conn.execute_batch(SCHEMA)
            .context("creating the bot store's tables")?;
        let (notices, _) = broadcast::channel(NOTICE_CAPACITY);
        Ok(Self {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                notices,
            }),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (statements are atomic), so a
        // poisoned lock is still usable.
        self.inner
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn notify(&self, notice: BotNotice) {
        // No subscriber is not an error.
        let _ = self.inner.notices.send(notice);
    }

    /// Receives every new message and event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<BotNotice> {
        self.inner.notices.subscribe()
    }

    // ---- state ----

    /// Reads the state `name` of `scope`/`id`.
    pub fn state_get(&self, scope: Scope, id: &str, name: &str) -> Result<Option<String>> {
        self.conn()
            .query_row(
                "SELECT value FROM state WHERE scope = ?1 AND id = ?2 AND name = ?3",
                params![scope_name(scope), id, name],
                |r| r.get(0),
            )
            .optional()
            .context("reading state")
    }

    /// Writes the state `name` of `scope`/`id`.
    pub fn state_set(&self, scope: Scope, id: &str, name: &str, value: &str) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO state (scope, id, name, value) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (scope, id, name) DO UPDATE SET value = excluded.value",
                params![scope_name(scope), id, name, value],
            )
            .context("writing state")?;
        Ok(())
    }

    /// Removes the state `name` of `scope`/`id`.
    pub fn state_delete(&self, scope: Scope, id: &str, name: &str) -> Result<()> {
        self.conn()
            .execute(
                "DELETE FROM state WHERE scope = ?1 AND id = ?2 AND name = ?3",
                params![scope_name(scope), id, name],
            )
            .context("deleting state")?;
        Ok(())
    }

    /// Atomic compare-and-set: writes `new` (deletes, when `None`) only if the current value equals
    /// `expected` (`None` = absent). Returns whether it wrote.
    pub fn state_swap(
        &self,
        scope: Scope,
        id: &str,
        name: &str,
        expected: Option<&str>,
        new: Option<&str>,
    ) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("starting a state swap")?;
        let scope = scope_name(scope);
        let current: Option<String> = tx
            .query_row(
                "SELECT value FROM state WHERE scope = ?1 AND id = ?2 AND name = ?3",
                params![scope, id, name],
                |r| r.get(0),
            )
            .optional()
            .context("reading state for a swap")?;
        if current.as_deref() != expected {
            return Ok(false);
        }
        match new {
            Some(value) => tx.execute(
                "INSERT INTO state (scope, id, name, value) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (scope, id, name) DO UPDATE SET value = excluded.value",
                params![scope, id, name, value],
            ),
            None => tx.execute(
                "DELETE FROM state WHERE scope = ?1 AND id = ?2 AND name = ?3",
                params![scope, id, name],
            ),
        }
        .context("writing state for a swap")?;
        tx.commit().context("committing a state swap")?;
        Ok(true)
    }

    /// Every piece of state: scope, id, name, value.
    pub fn state(&self) -> Vec<(Scope, String, String, String)> {
        let conn = self.conn();
        let Ok(mut stmt) = conn
            .prepare_cached("SELECT scope, id, name, value FROM state ORDER BY scope, id, name")
        else {
            return Vec::new();
        };
        stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .map(|rows| {
            rows.filter_map(|row| row.ok())
                .filter_map(|(scope, id, name, value)| {
                    Some((scope_from_name(&scope)?, id, name, value))
                })
                .collect()
        })
        .unwrap_or_default()
    }

    // ---- users ----

    /// The user `id`, with the installation it belongs to.
    pub fn user(&self, id: &str) -> Result<Option<(String, User)>> {
        self.conn()
            .query_row(
                "SELECT id, integration, name, picture, tags FROM users WHERE id = ?1",
                params![id],
                user_from_row,
            )
            .optional()
            .context("reading a user")
    }

    /// Finds the user of `integration` carrying all of `tags`, or creates it (always creates when
    /// `tags` is empty); `name` and `picture_url` are set on creation and updated when given.
    pub fn get_or_create_user(
        &self,
        integration: &str,
        tags: &[(String, String)],
        name: Option<&str>,
        picture_url: Option<&str>,
    ) -> Result<User> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("starting get-or-create-user")?;
        let found = if tags.is_empty() {
            None
        } else {
            first_carrying(
                &tx,
                "SELECT id, integration, name, picture, tags FROM users
                 WHERE integration = ?1 AND EXISTS (SELECT 1 FROM json_each(users.tags) AS t
                   WHERE json_extract(t.value, '$[0]') = ?2 AND json_extract(t.value, '$[1]') = ?3)
                 ORDER BY seq",
                params![integration, tags[0].0, tags[0].1],
                user_from_row,
                |user: &User| &user.tags,
                tags,
            )
            .context("finding a user by tags")?
        };
        let user = match found {
            Some(mut user) => {
                if name.is_some() || picture_url.is_some() {
                    user.name = name.map(str::to_owned).or(user.name);
                    user.picture_url = picture_url.map(str::to_owned).or(user.picture_url);
                    tx.execute(
                        "UPDATE users SET name = ?2, picture = ?3 WHERE id = ?1",
                        params![user.id, user.name, user.picture_url],
                    )
                    .context("updating a user")?;
                }
                user
            }
            None => {
                let id = next_id(&tx, "users", "user")?;
                tx.execute(
                    "INSERT INTO users (id, integration, name, picture, tags)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, integration, name, picture_url, tags_json(tags)?],
                )
                .context("creating a user")?;
                User {
                    id,
                    name: name.map(str::to_owned),
                    picture_url: picture_url.map(str::to_owned),
                    tags: tags.to_vec(),
                }
            }
        };
        tx.commit().context("committing get-or-create-user")?;
        Ok(user)
    }

    /// Every user, with the installation it belongs to, in creation order.
    pub fn users(&self) -> Vec<(String, User)> {
        let conn = self.conn();
        let Ok(mut stmt) = conn
            .prepare_cached("SELECT id, integration, name, picture, tags FROM users ORDER BY seq")
        else {
            return Vec::new();
        };
        stmt.query_map([], user_from_row)
            .map(|rows| rows.filter_map(|row| row.ok()).collect())
            .unwrap_or_default()
    }

    // ---- conversations ----

    /// The conversation `id`, with the installation it belongs to.
    pub fn conversation(&self, id: &str) -> Result<Option<(String, Conversation)>> {
        self.conn()
            .query_row(
                "SELECT id, integration, channel, tags FROM conversations WHERE id = ?1",
                params![id],
                conversation_from_row,
            )
            .optional()
            .context("reading a conversation")
    }

    /// Finds the conversation of `integration` on `channel` carrying all of `tags`, or creates it
    /// (always creates when `tags` is empty).
    pub fn get_or_create_conversation(
        &self,
        integration: &str,
        channel: &str,
        tags: &[(String, String)],
    ) -> Result<Conversation> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("starting get-or-create-conversation")?;
        let found = if tags.is_empty() {
            None
        } else {
            first_carrying(
                &tx,
                "SELECT id, integration, channel, tags FROM conversations
                 WHERE integration = ?1 AND channel = ?2 AND EXISTS (
                   SELECT 1 FROM json_each(conversations.tags) AS t
                   WHERE json_extract(t.value, '$[0]') = ?3 AND json_extract(t.value, '$[1]') = ?4)
                 ORDER BY seq",
                params![integration, channel, tags[0].0, tags[0].1],
                conversation_from_row,
                |conversation: &Conversation| &conversation.tags,
                tags,
            )
            .context("finding a conversation by tags")?
        };
        let conversation = match found {
            Some(conversation) => conversation,
            None => insert_conversation(&tx, integration, channel, tags)?,
        };
        tx.commit()
            .context("committing get-or-create-conversation")?;
        Ok(conversation)
    }

    /// Creates a new conversation of `integration` on `channel` (e.g. an end user's chat in a CLI).
    pub fn create_conversation(
        &self,
        integration: &str,
        channel: &str,
        tags: &[(String, String)],
    ) -> Result<Conversation> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("starting create-conversation")?;
        let conversation = insert_conversation(&tx, integration, channel, tags)?;
        tx.commit().context("committing create-conversation")?;
        Ok(conversation)
    }

    /// Every conversation, with the installation it belongs to, in creation order.
    pub fn conversations(&self) -> Vec<(String, Conversation)> {
        let conn = self.conn();
        let Ok(mut stmt) = conn.prepare_cached(
            "SELECT id, integration, channel, tags FROM conversations ORDER BY seq",
        ) else {
            return Vec::new();
        };
        stmt.query_map([], conversation_from_row)
            .map(|rows| rows.filter_map(|row| row.ok()).collect())
            .unwrap_or_default()
    }

    // ---- messages ----

    /// Delivers a message into the conversation `conversation_id` of `integration`; returns the new
    /// message, or why it was refused (`Err(Ok(text))`: an unknown conversation or user) or failed
    /// (`Err(Err(_))`: the store itself).
    pub fn create_message(
        &self,
        integration: &str,
        conversation_id: &str,
        user_id: &str,
        payload: &MessagePayload,
        tags: &[(String, String)],
    ) -> Result<Result<BotMessage, String>> {
        let message =
            {
                let mut conn = self.conn();
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .context("starting create-message")?;
                let conversation: Option<String> = tx
                    .query_row(
                        "SELECT integration FROM conversations WHERE id = ?1",
                        params![conversation_id],
                        |r| r.get(0),
                    )
                    .optional()
                    .context("finding the message's conversation")?;
                if conversation.as_deref() != Some(integration) {
                    return Ok(Err(format!("conversation {conversation_id:?} not found")));
                }
                let user: Option<String> = tx
                    .query_row(
                        "SELECT integration FROM users WHERE id = ?1",
                        params![user_id],
                        |r| r.get(0),
                    )
                    .optional()
                    .context("finding the message's user")?;
                if user.as_deref() != Some(integration) {
                    return Ok(Err(format!("user {user_id:?} not found")));
                }
                let id = next_id(&tx, "messages", "msg")?;
                let payload_json = serde_json::to_string(payload).context("encoding a payload")?;
                tx.execute(
                "INSERT INTO messages (id, integration, conversation_id, user_id, payload, tags)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, integration, conversation_id, user_id, payload_json, tags_json(tags)?],
            )
            .context("creating a message")?;
                tx.commit().context("committing create-message")?;
                BotMessage {
                    id,
                    conversation_id: conversation_id.to_owned(),
                    user_id: user_id.to_owned(),
                    payload: payload.clone(),
                    tags: tags.to_vec(),
                }
            };
        self.notify(BotNotice::Message {
            integration: integration.to_owned(),
            message: message.clone(),
        });
        Ok(Ok(message))
    }

    /// The messages of a conversation, in order.
    pub fn messages(&self, conversation_id: &str) -> Vec<BotMessage> {
        let conn = self.conn();
        let Ok(mut stmt) = conn.prepare_cached(
            "SELECT id, conversation_id, user_id, payload, tags FROM messages
             WHERE conversation_id = ?1 ORDER BY seq",
        ) else {
            return Vec::new();
        };
        stmt.query_map(params![conversation_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })
        .map(|rows| {
            rows.filter_map(|row| row.ok())
                .filter_map(|(id, conversation_id, user_id, payload, tags)| {
                    Some(BotMessage {
                        id,
                        conversation_id,
                        user_id,
                        payload: serde_json::from_str(&payload).ok()?,
                        tags: tags_from_json(&tags),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
    }

    // ---- events and logs ----

    /// Records an event of `integration` and tells subscribers.
    pub fn emit_event(&self, integration: &str, event: &Event) -> Result<()> {
        let json = serde_json::to_string(event).context("encoding an event")?;
        self.conn()
            .execute(
                "INSERT INTO events (integration, event) VALUES (?1, ?2)",
                params![integration, json],
            )
            .context("recording an event")?;
        self.notify(BotNotice::Event {
            integration: integration.to_owned(),
            event: event.clone(),
        });
        Ok(())
    }

    /// Every event, with the installation that emitted it, in order.
    pub fn events(&self) -> Vec<(String, Event)> {
        let conn = self.conn();
        let Ok(mut stmt) =
            conn.prepare_cached("SELECT integration, event FROM events ORDER BY seq")
        else {
            return Vec::new();
        };
        stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map(|rows| {
                rows.filter_map(|row| row.ok())
                    .filter_map(|(integration, event)| {
                        Some((integration, serde_json::from_str(&event).ok()?))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Records a log line of `integration`.
    pub fn log(&self, integration: &str, level: LogLevel, text: &str) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO logs (integration, level, text) VALUES (?1, ?2, ?3)",
                params![integration, level_name(level), text],
            )
            .context("recording a log line")?;
        Ok(())
    }

    /// Every log line: installation, level, text, in order.
    pub fn logs(&self) -> Vec<(String, LogLevel, String)> {
        let conn = self.conn();
        let Ok(mut stmt) =
            conn.prepare_cached("SELECT integration, level, text FROM logs ORDER BY seq")
        else {
            return Vec::new();
        };
        stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map(|rows| {
            rows.filter_map(|row| row.ok())
                .map(|(integration, level, text)| (integration, level_from_name(&level), text))
                .collect()
        })
        .unwrap_or_default()
    }
}

fn insert_conversation(
    tx: &Transaction<'_>,
    integration: &str,
    channel: &str,
    tags: &[(String, String)],
) -> Result<Conversation> {
    let id = next_id(tx, "conversations", "conv")?;
    tx.execute(
        "INSERT INTO conversations (id, integration, channel, tags) VALUES (?1, ?2, ?3, ?4)",
        params![id, integration, channel, tags_json(tags)?],
    )
    .context("creating a conversation")?;
    Ok(Conversation {
        id,
        channel: channel.to_owned(),
        tags: tags.to_vec(),
    })
}
