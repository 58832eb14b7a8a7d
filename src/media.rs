//! Message payloads in both directions.
//!
//! User → agent: text stays text; an image, audio clip, video or file is downloaded and put into
//! HubSpot's file store, then attached by file id (over the channel's size limit, or when the
//! download or upload fails, the message carries a link instead and a warning is logged); a `bloc`
//! becomes its parts in order.
//!
//! Agent → user: the text and each attached file become one payload (a `bloc` when there are several).

use alloc::{
    borrow::ToOwned,
    format,
    string::{String, ToString},
    vec,
    vec::Vec,
};

use crate::bindings::hitl::integration::types::{FileRef, MessagePayload, SimplePayload};
use crate::fetch::{Method, Request, fetch};
use crate::hubspot::HubSpot;
use crate::json::{Object, Value};
use crate::platform::warn;
use crate::register::MAX_ATTACHMENT_BYTES;

/// The folder in HubSpot's file store that attachments go to.
pub const ATTACHMENT_FOLDER: &str = "/bot-handoff-attachments";

/// One message to publish: its text and the attachments HubSpot should show with it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingPart {
    /// The text (HubSpot requires one; an attachment's name when there is nothing else).
    pub text: String,
    /// `{"type":"FILE","fileId":…,"fileUsageType":…}` entries.
    pub attachments: Vec<Value>,
}

/// What kind of media a URL holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Image,
    Audio,
    Video,
    File,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Image => "Image",
            Kind::Audio => "Audio",
            Kind::Video => "Video",
            Kind::File => "File",
        }
    }

    /// HubSpot's `fileUsageType`.
    fn usage(self) -> &'static str {
        match self {
            Kind::Image => "IMAGE",
            Kind::Audio => "AUDIO",
            Kind::Video | Kind::File => "OTHER",
        }
    }
}

/// A payload flattened into simple parts: (kind, text-or-url, title).
fn simple_parts(payload: &MessagePayload) -> Vec<(Option<Kind>, String, Option<String>)> {
    let one = |p: &SimplePayload| match p {
        SimplePayload::Text(t) => (None, t.clone(), None),
        SimplePayload::Image(u) => (Some(Kind::Image), u.clone(), None),
        SimplePayload::Audio(u) => (Some(Kind::Audio), u.clone(), None),
        SimplePayload::Video(u) => (Some(Kind::Video), u.clone(), None),
        SimplePayload::File(f) => (Some(Kind::File), f.url.clone(), f.title.clone()),
    };
    match payload {
        MessagePayload::Text(t) => vec![(None, t.clone(), None)],
        MessagePayload::Image(u) => vec![(Some(Kind::Image), u.clone(), None)],
        MessagePayload::Audio(u) => vec![(Some(Kind::Audio), u.clone(), None)],
        MessagePayload::Video(u) => vec![(Some(Kind::Video), u.clone(), None)],
        MessagePayload::File(f) => vec![(Some(Kind::File), f.url.clone(), f.title.clone())],
        MessagePayload::Bloc(parts) => parts.iter().map(one).collect(),
    }
}

/// Whether a payload has nothing to send (empty text, empty bloc).
pub fn is_empty(payload: &MessagePayload) -> bool {
    simple_parts(payload)
        .iter()
        .all(|(kind, text, _)| kind.is_none() && text.trim().is_empty())
}

/// A one-line rendering for transcripts: text as is, media as `[Image] url`.
pub fn describe(payload: &MessagePayload) -> String {
    let parts: Vec<String> = simple_parts(payload)
        .into_iter()
        .map(|(kind, text, title)| match kind {
            None => text,
            Some(k) => match title {
                Some(t) => format!("[{}: {t}] {text}", k.label()),
                None => format!("[{}] {text}", k.label()),
            },
        })
        .collect();
    crate::platform::join(&parts, " ")
}

/// Turns a user's payload into the messages to publish, uploading media to HubSpot.
pub fn outgoing_parts(client: &HubSpot, payload: &MessagePayload) -> Vec<OutgoingPart> {
    simple_parts(payload)
        .into_iter()
        .filter(|(kind, text, _)| kind.is_some() || !text.trim().is_empty())
        .map(|(kind, text, title)| match kind {
            None => OutgoingPart {
                text,
                attachments: Vec::new(),
            },
            Some(kind) => attach(client, kind, &text, title.as_deref()),
        })
        .collect()
}

/// Downloads and uploads one file; falls back to a link.
fn attach(client: &HubSpot, kind: Kind, url: &str, title: Option<&str>) -> OutgoingPart {
    let name = title
        .map(str::to_owned)
        .unwrap_or_else(|| file_name(url, kind));
    let link = OutgoingPart {
        text: format!("{}: {name} {url}", kind.label()),
        attachments: Vec::new(),
    };
    let request = Request {
        method: Method::Get,
        url: url.to_owned(),
        headers: Vec::new(),
        body: Vec::new(),
    };
    let downloaded = match fetch(&request, MAX_ATTACHMENT_BYTES as usize) {
        Ok(r) if r.is_success() => r,
        Ok(r) => {
            warn(&format!(
                "attachment download answered {}; sending a link instead",
                r.status
            ));
            return link;
        }
        Err(e) => {
            warn(&format!(
                "attachment download failed ({e}); sending a link instead"
            ));
            return link;
        }
    };
    let content_type = downloaded
        .header("content-type")
        .map(|c| c.split(';').next().unwrap_or(c).trim().to_owned())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| guess_type(&name).to_owned());
    match client.upload_file(&name, &content_type, &downloaded.body, ATTACHMENT_FOLDER) {
        Ok(file_id) => OutgoingPart {
            text: name,
            attachments: vec![
                Object::new()
                    .with("type", "FILE")
                    .with("fileId", file_id)
                    .with("fileUsageType", kind.usage())
                    .into(),
            ],
        },
        Err(e) => {
            warn(&format!(
                "attachment upload failed ({e}); sending a link instead"
            ));
            link
        }
    }
}

/// The last path segment of a URL, or a generic name.
fn file_name(url: &str, kind: Kind) -> String {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let last = path.rsplit('/').next().unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(last)
        .decode_utf8_lossy()
        .to_string();
    if decoded.is_empty() || path.ends_with("//") || !path.contains('/') {
        kind.label().to_ascii_lowercase()
    } else {
        decoded.chars().take(200).collect()
    }
}

fn guess_type(name: &str) -> &'static str {
    let ext = name
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" => "audio/ogg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// An agent's message as one bot payload; `None` when it has nothing to show.
pub fn incoming_payload(
    text: &str,
    attachments: &[crate::events::Attachment],
) -> Option<MessagePayload> {
    let mut parts: Vec<SimplePayload> = Vec::new();
    if !text.trim().is_empty() {
        parts.push(SimplePayload::Text(text.to_owned()));
    }
    for a in attachments {
        let usage = a.usage.as_deref().unwrap_or_default().to_ascii_uppercase();
        let name = a
            .name
            .clone()
            .unwrap_or_else(|| file_name(&a.url, Kind::File));
        let mime = guess_type(&name);
        let part = if usage == "IMAGE" || mime.starts_with("image/") {
            SimplePayload::Image(a.url.clone())
        } else if usage == "AUDIO" || usage == "VOICE_RECORDING" || mime.starts_with("audio/") {
            SimplePayload::Audio(a.url.clone())
        } else if usage == "VIDEO" || mime.starts_with("video/") {
            SimplePayload::Video(a.url.clone())
        } else {
            SimplePayload::File(FileRef {
                url: a.url.clone(),
                title: Some(name),
            })
        };
        parts.push(part);
    }
    match parts.len() {
        0 => None,
        1 => Some(match parts.remove(0) {
            SimplePayload::Text(t) => MessagePayload::Text(t),
            SimplePayload::Image(u) => MessagePayload::Image(u),
            SimplePayload::Audio(u) => MessagePayload::Audio(u),
            SimplePayload::Video(u) => MessagePayload::Video(u),
            SimplePayload::File(f) => MessagePayload::File(f),
        }),
        _ => Some(MessagePayload::Bloc(parts)),
    }
}
