//! Thin wrappers over what the runtime gives the component: logging (with secrets blanked), the clocks,
//! sleeping and randomness.

use alloc::{borrow::ToOwned, format, string::String, vec::Vec};
use core::cell::RefCell;

use crate::bindings::hitl::integration::host;
use crate::bindings::hitl::integration::types::LogLevel;

/// How many secrets an instance remembers (a long-lived instance sees a new access token per refresh).
const MAX_SECRETS: usize = 64;

/// The current call's secrets (client secret, refresh token, developer API key, access tokens),
/// blanked from every log line and error text. A call registers them as soon as it knows them.
///
/// A `wasm32-wasip2` component has a single thread and the component model never re-enters an
/// instance during a call, so a plain cell in a static is enough there. Native builds (unit tests,
/// which run in parallel) keep one list per thread.
#[cfg(target_arch = "wasm32")]
static SECRETS: SingleThreaded<Vec<String>> = SingleThreaded(RefCell::new(Vec::new()));

/// A cell shared by the only thread there is.
#[cfg(target_arch = "wasm32")]
struct SingleThreaded<T>(RefCell<T>);

// SAFETY: wasm32-wasip2 has no threads (no shared memory, no atomics), so no second thread can ever
// reach the cell.
#[cfg(target_arch = "wasm32")]
unsafe impl<T> Sync for SingleThreaded<T> {}

#[cfg(not(target_arch = "wasm32"))]
std::thread_local! {
    static SECRETS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on the list of secrets; `None` when the list is already in use, which only a panic
/// inside `f` (a bug) can cause: the panic's own log line must not panic again.
fn with_secrets<R>(f: impl FnOnce(&mut Vec<String>) -> R) -> Option<R> {
    #[cfg(target_arch = "wasm32")]
    let result = SECRETS.0.try_borrow_mut().ok().map(|mut s| f(&mut s));
    #[cfg(not(target_arch = "wasm32"))]
    let result = SECRETS.with(|s| s.try_borrow_mut().ok().map(|mut s| f(&mut s)));
    result
}

/// Adds a value that must never appear in a log line or an error text. Short values are ignored
/// (blanking them would garble ordinary words).
pub fn register_secret(secret: &str) {
    if secret.len() < 6 {
        return;
    }
    with_secrets(|s| {
        if !s.iter().any(|x| x == secret) {
            if s.len() >= MAX_SECRETS {
                s.remove(0);
            }
            s.push(secret.to_owned());
        }
    });
}

/// Returns `text` with every registered secret replaced by `[redacted]` (all of it when the
/// secrets cannot be read).
pub fn redact(text: &str) -> String {
    with_secrets(|s| {
        let mut out = text.to_owned();
        for secret in s.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "[redacted]");
            }
        }
        out
    })
    .unwrap_or_else(|| "[redacted]".to_owned())
}

/// Writes a log line through the host, secrets blanked.
pub fn log(level: LogLevel, text: &str) {
    host::log(level, &redact(text));
}

/// Logs at debug level.
pub fn debug(text: &str) {
    log(LogLevel::Debug, text);
}

/// Logs at info level.
pub fn info(text: &str) {
    log(LogLevel::Info, text);
}

/// Logs at error level.
pub fn error_log(text: &str) {
    log(LogLevel::Error, text);
}

/// Logs at warn level.
pub fn warn(text: &str) {
    log(LogLevel::Warn, text);
}

/// Milliseconds since the Unix epoch, from `wasi:clocks/wall-clock`.
pub fn now_ms() -> u64 {
    let t = wasip2::clocks::wall_clock::now();
    t.seconds.saturating_mul(1000) + u64::from(t.nanoseconds / 1_000_000)
}

/// Blocks the call for `ms` milliseconds.
pub fn sleep_ms(ms: u64) {
    if ms > 0 {
        wasip2::clocks::monotonic_clock::subscribe_duration(ms.saturating_mul(1_000_000)).block();
    }
}

/// A random number in `0..bound` (bound > 0), for jitter.
pub fn random_below(bound: u64) -> u64 {
    wasip2::random::random::get_random_u64() % bound.max(1)
}

/// A random (version 4) UUID in its usual text form.
pub fn uuid_v4() -> String {
    let mut b = wasip2::random::random::get_random_bytes(16);
    b.resize(16, 0);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Formats milliseconds since the epoch as ISO-8601 UTC (`2024-01-02T03:04:05.678Z`), as HubSpot's
/// message `timestamp` wants.
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let millis = ms % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if mo <= 2 { y + 1 } else { y };
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{millis:03}Z")
}

/// `parts` with `separator` between them, as `[String]::join` gives, in one small non-generic
/// function (the standard library's generic join costs the component over a kilobyte).
pub fn join(parts: &[String], separator: &str) -> String {
    let mut joined = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            joined.push_str(separator);
        }
        joined.push_str(part);
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_formats_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn redact_blanks_registered_secrets_only() {
        register_secret("super-secret-value");
        register_secret("abc");
        assert_eq!(
            redact("token super-secret-value here, abc"),
            "token [redacted] here, abc"
        );
    }
}
