//! Cursor pagination: newest first, by id (UUIDv7 ids sort by creation).
//! A cursor names the last row seen, so rows inserted meanwhile neither
//! repeat nor push others out of a later page.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use uuid::Uuid;

use super::Violations;

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 200;

/// Which page to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub size: u64,
    /// Only rows with a smaller id: the last one of the previous page.
    pub after: Option<Uuid>,
}

impl Page {
    /// Reads `page_size` (0 for the default, capped at the maximum) and the
    /// opaque `page_token` of a listing called `kind`.
    pub fn parse(kind: &str, page_size: i32, page_token: &str) -> Result<Self, Violations> {
        let (size, after) = parse_parts(kind, page_size, page_token, |c| c.parse().ok())?;
        Ok(Page { size, after })
    }

    /// The token that continues after `last`.
    pub fn token(kind: &str, last: Uuid) -> String {
        URL_SAFE_NO_PAD.encode(format!("{kind}:{last}"))
    }
}

/// Which page of a listing in name order to read (the event catalogue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePage {
    pub size: u64,
    /// Only rows with a greater name: the last one of the previous page.
    pub after: Option<String>,
}

impl NamePage {
    /// Reads `page_size` and `page_token` as [`Page::parse`] does.
    pub fn parse(kind: &str, page_size: i32, page_token: &str) -> Result<Self, Violations> {
        let (size, after) = parse_parts(kind, page_size, page_token, |c| Some(c.to_owned()))?;
        Ok(NamePage { size, after })
    }

    /// The token that continues after `last`.
    pub fn token(kind: &str, last: &str) -> String {
        URL_SAFE_NO_PAD.encode(format!("{kind}:{last}"))
    }
}

/// The size of a page, and the cursor its token holds (`kind:cursor` in
/// base64), read with `cursor`.
fn parse_parts<T>(
    kind: &str,
    page_size: i32,
    page_token: &str,
    cursor: impl FnOnce(&str) -> Option<T>,
) -> Result<(u64, Option<T>), Violations> {
    let mut violations = Violations::default();
    if page_size < 0 {
        violations.add("page_size", "must not be negative");
    }
    let size = match page_size {
        ..=0 => DEFAULT_PAGE_SIZE,
        n => (n as u64).min(MAX_PAGE_SIZE),
    };
    let after = if page_token.is_empty() {
        None
    } else {
        let after = URL_SAFE_NO_PAD
            .decode(page_token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|t| cursor(t.strip_prefix(kind)?.strip_prefix(':')?));
        if after.is_none() {
            violations.add("page_token", "is not a token this listing returned");
        }
        after
    };
    violations.into_result().map(|()| (size, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_default_and_cap() {
        assert_eq!(Page::parse("w", 0, "").unwrap().size, DEFAULT_PAGE_SIZE);
        assert_eq!(Page::parse("w", 7, "").unwrap().size, 7);
        assert_eq!(Page::parse("w", 10_000, "").unwrap().size, MAX_PAGE_SIZE);
        assert!(Page::parse("w", -1, "").is_err());
    }

    #[test]
    fn tokens_round_trip_and_belong_to_their_listing() {
        let id = Uuid::now_v7();
        let token = Page::token("webhooks", id);
        assert_eq!(Page::parse("webhooks", 0, &token).unwrap().after, Some(id));
        assert!(Page::parse("deliveries", 0, &token).is_err());
        assert!(Page::parse("webhooks", 0, "garbage!").is_err());
        let token = NamePage::token("event_types", "invoice.paid");
        let page = NamePage::parse("event_types", 0, &token).unwrap();
        assert_eq!(page.after.as_deref(), Some("invoice.paid"));
        assert!(NamePage::parse("webhooks", 0, &token).is_err());
    }
}
