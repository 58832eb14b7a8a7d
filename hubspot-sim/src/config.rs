//! What a simulated HubSpot account and app know: credentials, inboxes, delays and limits.

use std::time::Duration;

/// Everything a simulated HubSpot account + app knows. `Default` gives fixed, recognisable test values.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The account (hub) id, default 62515.
    pub portal_id: u64,
    /// The public app's id, default "1234567".
    pub app_id: String,
    /// The developer API key (`hapikey`) for channel management, default "sim-dev-api-key".
    pub developer_api_key: String,
    /// The app's OAuth client id, default "sim-client-id".
    pub client_id: String,
    /// The app's OAuth client secret (also keys webhook signatures), default "sim-client-secret".
    pub client_secret: String,
    /// The valid refresh token, default "sim-refresh-token".
    pub refresh_token: String,
    /// Answer a new refresh token on each refresh (the old one stops working), default false.
    pub rotate_refresh_token: bool,
    /// An access token's lifetime (`expires_in`), default 1800 s.
    pub token_lifetime: Duration,
    /// A new channel shows in the channel list only after this, default 60 s.
    pub channel_list_delay: Duration,
    /// Creating a channel account on a channel younger than this answers as for an unknown channel,
    /// default 0.
    pub channel_account_delay: Duration,
    /// The account's inboxes: by default one plain inbox and one help desk.
    pub inboxes: Vec<Inbox>,
    /// The app's webhook target URL (settable later with `Simulator::set_app_webhook_url`).
    pub app_webhook_url: Option<String>,
    /// Redirect URIs registered on the app (checked by the authorize endpoint).
    pub redirect_uris: Vec<String>,
    /// Requests allowed per window and per account (search and OAuth excluded), default 110 / 10 s.
    pub rate_limit: Option<(u32, Duration)>,
    /// The search endpoints' own limit, default 5 / 1 s (an addition to the agreed interface).
    pub search_rate_limit: Option<(u32, Duration)>,
    /// How long a webhook receiver gets to answer, default 5 s.
    pub webhook_timeout: Duration,
    /// Delays between retries of a failed delivery, default [50 ms, 100 ms, 200 ms].
    pub webhook_retry_delays: Vec<Duration>,
    /// File upload limit in bytes, default 20 MiB.
    pub max_attachment_bytes: usize,
}

/// A conversations inbox of the account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inbox {
    /// HubSpot's inbox id (a numeric string).
    pub id: String,
    /// The inbox's display name.
    pub name: String,
    /// A plain inbox or a help desk.
    pub kind: InboxKind,
}

/// The kind of an inbox, as HubSpot's `type` field says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InboxKind {
    /// `INBOX`
    Inbox,
    /// `HELP_DESK`
    HelpDesk,
}

impl InboxKind {
    /// HubSpot's spelling of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            InboxKind::Inbox => "INBOX",
            InboxKind::HelpDesk => "HELP_DESK",
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            portal_id: 62515,
            app_id: "1234567".into(),
            developer_api_key: "sim-dev-api-key".into(),
            client_id: "sim-client-id".into(),
            client_secret: "sim-client-secret".into(),
            refresh_token: "sim-refresh-token".into(),
            rotate_refresh_token: false,
            token_lifetime: Duration::from_secs(1800),
            channel_list_delay: Duration::from_secs(60),
            channel_account_delay: Duration::ZERO,
            inboxes: vec![
                Inbox {
                    id: "1431487392".into(),
                    name: "Inbox".into(),
                    kind: InboxKind::Inbox,
                },
                Inbox {
                    id: "1431487401".into(),
                    name: "Help Desk".into(),
                    kind: InboxKind::HelpDesk,
                },
            ],
            app_webhook_url: None,
            redirect_uris: vec!["http://localhost:3000/oauth-callback".into()],
            rate_limit: Some((110, Duration::from_secs(10))),
            search_rate_limit: Some((5, Duration::from_secs(1))),
            webhook_timeout: Duration::from_secs(5),
            webhook_retry_delays: vec![
                Duration::from_millis(50),
                Duration::from_millis(100),
                Duration::from_millis(200),
            ],
            max_attachment_bytes: 20 * 1024 * 1024,
        }
    }
}
