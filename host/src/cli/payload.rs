//! Messages as JSON, in the shapes of the definition's `hitl` channel (`{"type": "text", "text"}`,
//! `{"type": "image", "imageUrl"}`, `{"type": "file", "fileUrl", "title"}`, `{"type": "bloc",
//! "items": [...]}`, ...), and as one line of text for a terminal.

use hitl_host::types::{FileRef, MessagePayload, SimplePayload};
use serde_json::{Value, json};

/// The JSON of a message payload.
pub fn to_json(payload: &MessagePayload) -> Value {
    match payload {
        MessagePayload::Text(text) => json!({ "type": "text", "text": text }),
        MessagePayload::Image(url) => json!({ "type": "image", "imageUrl": url }),
        MessagePayload::Audio(url) => json!({ "type": "audio", "audioUrl": url }),
        MessagePayload::Video(url) => json!({ "type": "video", "videoUrl": url }),
        MessagePayload::File(file) => file_json(file),
        MessagePayload::Bloc(items) => {
            json!({ "type": "bloc", "items": items.iter().map(simple_json).collect::<Vec<_>>() })
        }
    }
}

fn file_json(file: &FileRef) -> Value {
    let mut value = json!({ "type": "file", "fileUrl": file.url });
    if let Some(title) = &file.title {
        value["title"] = title.clone().into();
    }
    value
}

fn simple_json(part: &SimplePayload) -> Value {
    match part {
        SimplePayload::Text(text) => json!({ "type": "text", "text": text }),
        SimplePayload::Image(url) => json!({ "type": "image", "imageUrl": url }),
        SimplePayload::Audio(url) => json!({ "type": "audio", "audioUrl": url }),
        SimplePayload::Video(url) => json!({ "type": "video", "videoUrl": url }),
        SimplePayload::File(file) => file_json(file),
    }
}

/// Reads a payload from its JSON; `{"text": "..."}` without a type is text. The error names the
/// missing or wrong field.
pub fn from_json(value: &Value) -> Result<MessagePayload, String> {
    let kind =
        match value.get("type") {
            None if value.get("text").is_some() => "text",
            None => return Err(
                "the message needs a `type` (text, image, audio, video, file, bloc) or a `text`"
                    .into(),
            ),
            Some(Value::String(kind)) => kind.as_str(),
            Some(_) => return Err("`type` must be a text".into()),
        };
    if kind == "bloc" {
        let Some(items) = value.get("items").and_then(Value::as_array) else {
            return Err("a bloc needs `items`, a list of parts".into());
        };
        let parts = items
            .iter()
            .map(|item| match from_json(item)? {
                MessagePayload::Text(t) => Ok(SimplePayload::Text(t)),
                MessagePayload::Image(u) => Ok(SimplePayload::Image(u)),
                MessagePayload::Audio(u) => Ok(SimplePayload::Audio(u)),
                MessagePayload::Video(u) => Ok(SimplePayload::Video(u)),
                MessagePayload::File(f) => Ok(SimplePayload::File(f)),
                MessagePayload::Bloc(_) => Err("a bloc's items cannot be blocs".to_owned()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(MessagePayload::Bloc(parts));
    }
    let field = |name: &str| -> Result<String, String> {
        match value.get(name) {
            Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
            _ => Err(format!("a {kind} message needs `{name}`, a non-empty text")),
        }
    };
    Ok(match kind {
        "text" => MessagePayload::Text(field("text")?),
        "image" => MessagePayload::Image(field("imageUrl")?),
        "audio" => MessagePayload::Audio(field("audioUrl")?),
        "video" => MessagePayload::Video(field("videoUrl")?),
        "file" => MessagePayload::File(FileRef {
            url: field("fileUrl")?,
            title: value
                .get("title")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }),
        other => {
            return Err(format!(
                "unknown message type {other:?} (text, image, audio, video, file, bloc)"
            ));
        }
    })
}

/// The payload as one line for a terminal.
pub fn describe(payload: &MessagePayload) -> String {
    match payload {
        MessagePayload::Text(text) => text.clone(),
        MessagePayload::Image(url) => format!("[image {url}]"),
        MessagePayload::Audio(url) => format!("[audio {url}]"),
        MessagePayload::Video(url) => format!("[video {url}]"),
        MessagePayload::File(file) => describe_file(file),
        MessagePayload::Bloc(parts) => parts
            .iter()
            .map(|part| match part {
                SimplePayload::Text(text) => text.clone(),
                SimplePayload::Image(url) => format!("[image {url}]"),
                SimplePayload::Audio(url) => format!("[audio {url}]"),
                SimplePayload::Video(url) => format!("[video {url}]"),
                SimplePayload::File(file) => describe_file(file),
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn describe_file(file: &FileRef) -> String {
    match &file.title {
        Some(title) => format!("[file {title}: {}]", file.url),
        None => format!("[file {}]", file.url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        let payloads = [
            MessagePayload::Text("hi".into()),
            MessagePayload::Image("http://x/i.png".into()),
            MessagePayload::File(FileRef {
                url: "http://x/f.pdf".into(),
                title: Some("f.pdf".into()),
            }),
            MessagePayload::Bloc(vec![
                SimplePayload::Text("see".into()),
                SimplePayload::Video("http://x/v.mp4".into()),
            ]),
        ];
        for payload in payloads {
            assert_eq!(from_json(&to_json(&payload)).unwrap(), payload);
        }
    }

    #[test]
    fn a_missing_field_is_named() {
        let error = from_json(&json!({"type": "image"})).unwrap_err();
        assert!(error.contains("imageUrl"), "{error}");
        assert_eq!(
            from_json(&json!({"text": "plain"})).unwrap(),
            MessagePayload::Text("plain".into())
        );
    }
}
