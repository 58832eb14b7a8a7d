//! The WIT types of `hitl:integration/types`, under the names hosts and tests use.

pub use crate::bindings::hitl::integration::types::{
    Author, Context, Conversation, Error as HitlError, Event, FileRef, Header, HistoryEntry,
    HitlAssigned, HitlStopped, HttpRequest, HttpResponse, LogLevel, MessagePayload, RateLimit,
    Scope, SimplePayload, Tags, UpstreamError, User,
};
