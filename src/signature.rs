//! HubSpot's v3 webhook signature: `base64(HMAC-SHA256(client secret, method + URI + body +
//! timestamp))`, with the URI's `%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B` decoded first and
//! nothing else. Compared in constant time; a timestamp more than five minutes old, or ahead of our
//! clock by more than a small skew, is refused.

use alloc::string::String;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How old a signed request may be.
pub const MAX_AGE_MS: u64 = 5 * 60 * 1000;
/// How far ahead of our clock a timestamp may be (clock skew between HubSpot and the host).
pub const MAX_FUTURE_SKEW_MS: u64 = 30 * 1000;

/// Why a signature was refused (the texts are safe to log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No `X-HubSpot-Signature-v3` header.
    MissingSignature,
    /// No or unreadable `X-HubSpot-Request-Timestamp` header.
    MissingTimestamp,
    /// The timestamp is older than five minutes.
    Stale,
    /// The timestamp is in the future.
    Future,
    /// The signature is not base64, or not 32 bytes.
    Malformed,
    /// The signature does not match.
    Mismatch,
}

impl Refusal {
    /// A short explanation.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::MissingSignature => "missing X-HubSpot-Signature-v3",
            Refusal::MissingTimestamp => "missing or malformed X-HubSpot-Request-Timestamp",
            Refusal::Stale => "timestamp older than five minutes",
            Refusal::Future => "timestamp in the future",
            Refusal::Malformed => "signature is not a base64 HMAC-SHA256",
            Refusal::Mismatch => "signature does not match",
        }
    }
}

/// The request's URI as HubSpot signs it: only the listed escapes decoded.
pub fn canonical_uri(url: &str) -> String {
    const DECODE: [(&str, char); 12] = [
        ("%3A", ':'),
        ("%2F", '/'),
        ("%3F", '?'),
        ("%40", '@'),
        ("%21", '!'),
        ("%24", '$'),
        ("%27", '\''),
        ("%28", '('),
        ("%29", ')'),
        ("%2A", '*'),
        ("%2C", ','),
        ("%3B", ';'),
    ];
    let bytes = url.as_bytes();
    let mut out = String::with_capacity(url.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let code = url.get(i..i + 3).unwrap_or_default();
            if let Some((_, c)) = DECODE.iter().find(|(e, _)| e.eq_ignore_ascii_case(code)) {
                out.push(*c);
                i += 3;
                continue;
            }
        }
        let ch = url[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

/// The v3 signature of a request.
pub fn sign_v3(secret: &str, method: &str, url: &str, body: &[u8], timestamp: &str) -> String {
    STANDARD.encode(
        mac(secret, method, url, body, timestamp)
            .finalize()
            .into_bytes(),
    )
}

fn mac(secret: &str, method: &str, url: &str, body: &[u8], timestamp: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable_key());
    mac.update(method.as_bytes());
    mac.update(canonical_uri(url).as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    mac
}

#[cold]
fn unreachable_key() -> Hmac<Sha256> {
    // new_from_slice only fails for fixed-size keys, which HMAC does not have; an all-zero-key MAC
    // would never verify a real signature, so failing closed is safe.
    <Hmac<Sha256> as KeyInit>::new(&Default::default())
}

/// Checks a request's v3 signature and timestamp against `now_ms`.
pub fn verify_v3(
    secret: &str,
    method: &str,
    url: &str,
    body: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    now_ms: u64,
) -> Result<(), Refusal> {
    let signature = signature
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(Refusal::MissingSignature)?;
    let timestamp = timestamp
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(Refusal::MissingTimestamp)?;
    let ts: u64 = timestamp.parse().map_err(|_| Refusal::MissingTimestamp)?;
    if ts > now_ms.saturating_add(MAX_FUTURE_SKEW_MS) {
        return Err(Refusal::Future);
    }
    if now_ms.saturating_sub(ts) > MAX_AGE_MS {
        return Err(Refusal::Stale);
    }
    let given = decode_mac(signature).ok_or(Refusal::Malformed)?;
    mac(secret, method, url, body, timestamp)
        .verify_slice(&given)
        .map_err(|_| Refusal::Mismatch)
}

/// Decodes the canonical base64 form of 32 bytes (an HMAC-SHA256), exactly what a strict decoder
/// accepts: 43 digits of the standard alphabet, the last carrying no stray bits, then `=`. `None`
/// for anything else.
fn decode_mac(text: &str) -> Option<[u8; 32]> {
    let alphabet = base64::alphabet::STANDARD.as_str().as_bytes();
    let (digits, padding) = text.as_bytes().split_at_checked(43)?;
    if padding != b"=" {
        return None;
    }
    let mut mac = [0u8; 32];
    let (mut bits, mut held, mut filled) = (0u32, 0u32, 0usize);
    for digit in digits {
        bits = (bits << 6) | alphabet.iter().position(|a| a == digit)? as u32;
        held += 6;
        if held >= 8 {
            held -= 8;
            *mac.get_mut(filled)? = (bits >> held) as u8;
            bits &= (1 << held) - 1;
            filled += 1;
        }
    }
    // 43 digits hold 258 bits: the 2 beyond the 256 must be zero.
    (bits == 0).then_some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn canonical_uri_decodes_only_the_listed_escapes() {
        assert_eq!(
            canonical_uri("https://x.io/a%3Ab%2Fc?q=%20%26%3D%40%2c"),
            "https://x.io/a:b/c?q=%20%26%3D@,"
        );
        assert_eq!(canonical_uri("https://x.io/é%"), "https://x.io/é%");
    }

    #[test]
    fn verifies_its_own_signature_and_refuses_tampering() {
        let ts = NOW.to_string();
        let sig = sign_v3("s3cret", "POST", "https://bot.example/hook", b"[]", &ts);
        assert_eq!(
            verify_v3(
                "s3cret",
                "POST",
                "https://bot.example/hook",
                b"[]",
                Some(&sig),
                Some(&ts),
                NOW
            ),
            Ok(())
        );
        assert_eq!(
            verify_v3(
                "s3cret",
                "POST",
                "https://bot.example/hook",
                b"[1]",
                Some(&sig),
                Some(&ts),
                NOW
            ),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            verify_v3(
                "other",
                "POST",
                "https://bot.example/hook",
                b"[]",
                Some(&sig),
                Some(&ts),
                NOW
            ),
            Err(Refusal::Mismatch)
        );
    }

    #[test]
    fn decodes_macs_exactly_as_a_strict_base64_decoder_does() {
        let mac = STANDARD.encode([0xa5u8; 32]);
        let stray_bits = format!("{}B=", &mac[..42]);
        let url_safe = format!("-{}", &mac[1..]);
        let short = format!("{}==", &mac[..42]);
        let long = format!("{mac}A");
        let unpadded = mac[..43].to_owned();
        let spaced = format!(" {}", &mac[1..]);
        for text in [
            mac.as_str(),
            &stray_bits,
            &url_safe,
            &short,
            &long,
            &unpadded,
            &spaced,
            "AAAA",
            "",
        ] {
            let strict = STANDARD.decode(text).ok().filter(|bytes| bytes.len() == 32);
            assert_eq!(decode_mac(text).map(Vec::from), strict, "{text}");
        }
    }

    #[test]
    fn refuses_bad_shapes_and_times() {
        let ts = NOW.to_string();
        let sig = sign_v3("k", "POST", "u", b"", &ts);
        let v = |sig: Option<&str>, ts: Option<&str>, now| {
            verify_v3("k", "POST", "u", b"", sig, ts, now)
        };
        assert_eq!(v(None, Some(&ts), NOW), Err(Refusal::MissingSignature));
        assert_eq!(v(Some(&sig), None, NOW), Err(Refusal::MissingTimestamp));
        assert_eq!(
            v(Some(&sig), Some("soon"), NOW),
            Err(Refusal::MissingTimestamp)
        );
        assert_eq!(v(Some("AAAA"), Some(&ts), NOW), Err(Refusal::Malformed));
        assert_eq!(v(Some("%%%"), Some(&ts), NOW), Err(Refusal::Malformed));
        assert_eq!(
            v(Some(&sig), Some(&ts), NOW + MAX_AGE_MS + 1),
            Err(Refusal::Stale)
        );
        assert_eq!(
            v(Some(&sig), Some(&ts), NOW - MAX_FUTURE_SKEW_MS - 1),
            Err(Refusal::Future)
        );
    }
}
