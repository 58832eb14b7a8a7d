//! `create-user`: the end user as a HubSpot contact (found by email, else by phone: it must exist in
//! the CRM) and as a bot-side user tagged with the contact id, email and phone.

use alloc::{borrow::ToOwned, format, string::String, vec};

use crate::bindings::hitl::integration::host;
use crate::bindings::hitl::integration::types::Context;
use crate::config::Config;
use crate::error::{HitlError, Result};
use crate::hubspot::{HubSpot, id_of};
use crate::json::Value;

/// Tag holding the HubSpot contact id.
pub const TAG_CONTACT: &str = "hubspotContactId";
/// Tag holding the user's email.
pub const TAG_EMAIL: &str = "email";
/// Tag holding the user's phone number.
pub const TAG_PHONE: &str = "phone";

/// Finds the contact and returns the bot-side user's id.
pub fn create_user(
    ctx: &Context,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    picture_url: Option<String>,
) -> Result<String> {
    let config = Config::parse(&ctx.configuration)?;
    let email = clean(email);
    let phone = clean(phone);
    if email.is_none() && phone.is_none() {
        return Err(HitlError::InvalidInput(
            "an email or a phone number is needed to find the HubSpot contact".into(),
        ));
    }
    if let Some(e) = &email
        && !looks_like_email(e)
    {
        return Err(HitlError::InvalidInput(
            "the email address is not valid".into(),
        ));
    }
    if let Some(p) = &phone
        && (p.len() > 40 || !p.chars().any(|c| c.is_ascii_digit()))
    {
        return Err(HitlError::InvalidInput(
            "the phone number is not valid".into(),
        ));
    }
    let client = HubSpot::new(&ctx.integration_id, &config);
    let contact = find_contact(&client, email.as_deref(), phone.as_deref())?.ok_or_else(|| {
        HitlError::NotFound(
            "no HubSpot contact has this email or phone number; create the contact in the HubSpot CRM first".into(),
        )
    })?;
    let contact_id = id_of(&contact).ok_or_else(|| HitlError::Upstream {
        status: 200,
        message: "find contact: HubSpot's answer has no id".into(),
    })?;
    let name = clean(name).or_else(|| contact_name(&contact));
    let mut tags = vec![(TAG_CONTACT.to_owned(), contact_id)];
    if let Some(e) = email {
        tags.push((TAG_EMAIL.to_owned(), e));
    }
    if let Some(p) = phone {
        tags.push((TAG_PHONE.to_owned(), p));
    }
    let user = host::get_or_create_user(&tags, name.as_deref(), clean(picture_url).as_deref());
    Ok(user.id)
}

fn find_contact(
    client: &HubSpot,
    email: Option<&str>,
    phone: Option<&str>,
) -> Result<Option<Value>> {
    if let Some(e) = email
        && let Some(contact) = client.contact_by_email(e)?
    {
        return Ok(Some(contact));
    }
    if let Some(p) = phone {
        for property in ["phone", "mobilephone"] {
            if let Some(contact) = client.search_contact(property, p)? {
                return Ok(Some(contact));
            }
        }
    }
    Ok(None)
}

fn contact_name(contact: &Value) -> Option<String> {
    let p = contact.get("properties")?;
    let part = |k: &str| {
        p.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    match (part("firstname"), part("lastname")) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (Some(n), None) | (None, Some(n)) => Some(n.to_owned()),
        (None, None) => None,
    }
}

fn clean(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn looks_like_email(e: &str) -> bool {
    let mut parts = e.splitn(2, '@');
    let (local, domain) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    !local.is_empty()
        && domain.contains('.')
        && e.len() <= 254
        && !e.chars().any(char::is_whitespace)
}
