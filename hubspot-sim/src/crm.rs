//! CRM contacts: read by id or email, search with EQ filters (bearer).

use serde_json::{Map, Value, json};

use crate::errors::{ApiError, ApiResult, Resp};
use crate::server::Req;
use crate::state::{Contact, NewContact, Shared, State, now_iso};

/// Properties answered when none are asked for.
const DEFAULT_PROPERTIES: &[&str] = &["email", "firstname", "lastname"];
const OPERATORS: &[&str] = &[
    "EQ",
    "NEQ",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
];

/// Adds a contact and returns its id.
pub fn add_contact(st: &mut State, contact: NewContact) -> String {
    let id = st.next() + 9_000;
    let mut properties = std::collections::BTreeMap::new();
    for (k, v) in [
        ("email", contact.email),
        ("phone", contact.phone),
        ("mobilephone", contact.mobilephone),
        ("firstname", contact.firstname),
        ("lastname", contact.lastname),
    ] {
        if let Some(v) = v {
            properties.insert(k.to_string(), v);
        }
    }
    st.contacts.insert(
        id,
        Contact {
            id: id.to_string(),
            properties,
            created_at: now_iso(),
        },
    );
    id.to_string()
}

/// The contact id a delivery identifier (HS_EMAIL_ADDRESS / HS_PHONE_NUMBER) points at.
pub fn match_identifier(st: &State, kind: &str, value: &str) -> Option<String> {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    st.contacts
        .values()
        .find(|c| match kind {
            "HS_EMAIL_ADDRESS" => c
                .properties
                .get("email")
                .is_some_and(|e| e.eq_ignore_ascii_case(value)),
            "HS_PHONE_NUMBER" => {
                let want = digits(value);
                !want.is_empty()
                    && ["phone", "mobilephone"]
                        .iter()
                        .any(|p| c.properties.get(*p).is_some_and(|v| digits(v) == want))
            }
            _ => false,
        })
        .map(|c| c.id.clone())
}

fn contact_json(c: &Contact, wanted: &[String]) -> Value {
    let mut props = Map::new();
    let names: Vec<String> = if wanted.is_empty() {
        DEFAULT_PROPERTIES.iter().map(|s| s.to_string()).collect()
    } else {
        wanted.to_vec()
    };
    for n in names {
        props.insert(
            n.clone(),
            c.properties
                .get(&n)
                .map(|v| json!(v))
                .unwrap_or(Value::Null),
        );
    }
    props.insert("hs_object_id".into(), json!(c.id));
    props.insert("createdate".into(), json!(c.created_at));
    props.insert("lastmodifieddate".into(), json!(c.created_at));
    json!({
        "id": c.id,
        "properties": props,
        "createdAt": c.created_at,
        "updatedAt": c.created_at,
        "archived": false,
    })
}

fn property_list(raw: Option<&str>) -> Vec<String> {
    raw.map(|p| {
        p.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

/// `GET /crm/v3/objects/contacts/{contactId}?idProperty=email&properties=...` → the contact or 404.
pub fn get_contact(shared: &Shared, req: &Req) -> ApiResult {
    let key = req.param("contactId");
    let mut wanted = Vec::new();
    for (k, v) in &req.query {
        if k == "properties" {
            wanted.extend(property_list(Some(v)));
        }
    }
    let st = shared.state();
    let found = match req.query("idProperty") {
        None | Some("hs_object_id") => key.parse::<u64>().ok().and_then(|id| st.contacts.get(&id)),
        Some("email") => st.contacts.values().find(|c| {
            c.properties
                .get("email")
                .is_some_and(|e| e.eq_ignore_ascii_case(key))
        }),
        Some(other) => {
            return Err(ApiError::validation(format!(
                "Property {other} is not a unique identifier property"
            )));
        }
    };
    found
        .map(|c| Resp::ok(contact_json(c, &wanted)))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Object not found.  objectId are usually numeric. ({key})"
            ))
        })
}

fn filter_matches(c: &Contact, f: &Value) -> Result<bool, ApiError> {
    let Some(name) = f["propertyName"].as_str() else {
        return Err(ApiError::validation("Each filter needs a propertyName"));
    };
    let op = f["operator"].as_str().unwrap_or("EQ");
    if !OPERATORS.contains(&op) {
        return Err(ApiError::validation(format!("Unsupported operator {op}")));
    }
    let actual = c.properties.get(name);
    let value = match &f["value"] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    let needs_value = matches!(op, "EQ" | "NEQ" | "CONTAINS_TOKEN");
    if needs_value && value.is_none() {
        return Err(ApiError::validation(format!(
            "Filter on {name} with {op} needs a value"
        )));
    }
    let eq = |a: &String| value.as_deref().is_some_and(|v| a.eq_ignore_ascii_case(v));
    Ok(match op {
        "EQ" => actual.is_some_and(eq),
        "NEQ" => !actual.is_some_and(eq),
        "HAS_PROPERTY" => actual.is_some(),
        "NOT_HAS_PROPERTY" => actual.is_none(),
        _ => actual.is_some_and(|a| {
            let v = value.as_deref().unwrap_or("").to_lowercase();
            a.to_lowercase()
                .split(|ch: char| !ch.is_alphanumeric() && ch != '@' && ch != '.')
                .any(|t| t == v)
        }),
    })
}

/// `POST /crm/v3/objects/contacts/search` → `{total, results[]}` (filter groups OR, filters AND).
pub fn search_contacts(shared: &Shared, req: &Req) -> ApiResult {
    let body = req.json_object()?;
    let groups = match body.get("filterGroups") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(g)) => g.clone(),
        Some(_) => return Err(ApiError::validation("filterGroups must be an array")),
    };
    let wanted: Vec<String> = match body.get("properties") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(p)) => p
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(_) => {
            return Err(ApiError::validation(
                "properties must be an array of strings",
            ));
        }
    };
    let limit = match body.get("limit") {
        None | Some(Value::Null) => 10,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=200).contains(&n) => n as usize,
            _ => {
                return Err(ApiError::validation(
                    "limit must be an integer from 1 to 200",
                ));
            }
        },
    };
    let after = match body.get("after") {
        None | Some(Value::Null) => 0,
        Some(Value::String(s)) => s
            .parse::<usize>()
            .map_err(|_| ApiError::validation("Invalid after"))?,
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0) as usize,
        Some(_) => return Err(ApiError::validation("Invalid after")),
    };
    let st = shared.state();
    let mut results = Vec::new();
    for c in st.contacts.values() {
        let mut any = groups.is_empty();
        for g in &groups {
            let Some(filters) = g["filters"].as_array() else {
                return Err(ApiError::validation(
                    "Each filter group needs a filters array",
                ));
            };
            let mut all = true;
            for f in filters {
                all &= filter_matches(c, f)?;
            }
            any |= all;
        }
        if any {
            results.push(contact_json(c, &wanted));
        }
    }
    let total = results.len();
    let page: Vec<Value> = results.into_iter().skip(after).take(limit).collect();
    let mut v = json!({ "total": total, "results": page });
    if after + limit < total {
        v["paging"] = json!({ "next": { "after": (after + limit).to_string() } });
    }
    Ok(Resp::ok(v))
}
