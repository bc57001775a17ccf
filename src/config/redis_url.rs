//! The Redis address of `[state] redis`, and the one rule about it: its password is never shown.
//!
//! `RedisUrl` keeps the URL as written (`redis://` or `rediss://`, RFC 3986 userinfo
//! `user:password@` allowed, a database number as the path) for the client, and a redacted form
//! (`redis://user:***@host:6379/0`) for everything a person or a scraper reads: logs, errors,
//! `gateway check`, `Debug`. [`redact`] works on text that did not even parse, so a config error
//! about a malformed URL cannot echo its password either.

use std::fmt;

/// A checked `redis://` / `rediss://` URL. `Display` and `Debug` show the redacted form.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    secret: String,
    shown: String,
    tls: bool,
}

impl RedisUrl {
    /// Checks `text` is a Redis URL the gateway can use; the error never contains the password.
    /// Whether the Redis client reads it the same way is `state::check_url`'s question, asked
    /// when the config is loaded through `load`.
    pub fn parse(text: &str) -> Result<RedisUrl, String> {
        if !text.contains("://") {
            // Not echoed: a value without a scheme may well be a password pasted alone.
            return Err(
                "the value is not a URL (no scheme://); write e.g. \"redis://127.0.0.1:6379/0\" or \"rediss://:PASSWORD@redis.internal:6380/0\"".to_owned(),
            );
        }
        let shown = redact(text);
        let url = url::Url::parse(text).map_err(|e| {
            format!(
                "`{shown}` is not a URL ({e}); write e.g. \"redis://127.0.0.1:6379/0\" or \"rediss://:PASSWORD@redis.internal:6380/0\""
            )
        })?;
        let tls = match url.scheme() {
            "redis" => false,
            "rediss" => true,
            other => {
                let hint = crate::diagnostic::did_you_mean(other, ["redis", "rediss"]);
                return Err(format!(
                    "`{shown}`: the scheme `{other}` is not supported{hint}; use redis:// (plain TCP) or rediss:// (TLS)"
                ));
            }
        };
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!(
                "`{shown}` names no host; write e.g. \"redis://127.0.0.1:6379/0\""
            ));
        }
        let db = url.path().trim_start_matches('/');
        if !db.is_empty() && db.parse::<u16>().is_err() {
            return Err(format!(
                "`{shown}`: the path is the database number (e.g. `/0`), not `/{db}`"
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "`{shown}` has a query or fragment; the gateway reads none (put the database in the path, the password in the userinfo)"
            ));
        }
        Ok(RedisUrl {
            secret: text.to_owned(),
            shown,
            tls,
        })
    }

    /// What the client connects with (holds the password).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// `rediss://`.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// Removes the password, should a message from the client ever quote the URL.
    pub fn scrub(&self, message: &str) -> String {
        scrub(message, &self.secret)
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({})", self.shown)
    }
}

/// `scheme://user:***@host…`: the password (everything after the first `:` of the userinfo)
/// replaced; a userinfo without `:` is replaced whole, since some write the password alone.
/// The userinfo ends at the last `@` before the path, so a password holding `@` or `/` is
/// still hidden.
pub fn redact(text: &str) -> String {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return text.to_owned();
    };
    let rest = &text[start..];
    let Some(at) = rest.rfind('@') else {
        return text.to_owned();
    };
    let userinfo = &rest[..at];
    let hidden = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    format!("{}{hidden}{}", &text[..start], &rest[at..])
}

/// Replaces the URL's password (raw and percent-decoded) and the URL itself wherever `message`
/// quotes them.
fn scrub(message: &str, url: &str) -> String {
    let mut out = message.replace(url, &redact(url));
    if let Ok(parsed) = url::Url::parse(url)
        && let Some(password) = parsed.password().filter(|p| !p.is_empty())
    {
        out = out.replace(password, "***");
        if let Ok(decoded) = percent_decode(password)
            && !decoded.is_empty()
        {
            out = out.replace(&decoded, "***");
        }
    }
    out
}

fn percent_decode(text: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_password_is_never_shown_whatever_the_url_looks_like() {
        for (text, shown) in [
            (
                "redis://:s3cret@10.0.0.5:6379/0",
                "redis://:***@10.0.0.5:6379/0",
            ),
            (
                "rediss://gateway:s3cret@redis:6380",
                "rediss://gateway:***@redis:6380",
            ),
            ("redis://s3cret@redis/1", "redis://***@redis/1"),
            ("redis://u:p@ss/w@rd@redis/0", "redis://u:***@redis/0"),
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            ("not a url :s3cret@", "not a url :s3cret@"),
        ] {
            assert_eq!(redact(text), shown, "{text}");
        }
        let url = RedisUrl::parse("rediss://gateway:s3cret@redis:6380/2").unwrap();
        assert!(url.tls());
        assert_eq!(url.to_string(), "rediss://gateway:***@redis:6380/2");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(url.scrub("AUTH s3cret failed"), "AUTH *** failed");
    }

    #[test]
    fn a_bad_url_is_refused_with_a_reason_and_without_its_password() {
        for (text, says) in [
            (
                "http://:s3cret@redis:6379",
                "use redis:// (plain TCP) or rediss:// (TLS)",
            ),
            ("rediss2://:s3cret@redis:6379", "did you mean `rediss`?"),
            (
                "redis://:s3cret@redis:6379/cache",
                "the path is the database number",
            ),
            ("redis://:s3cret@redis:99999/0", "not a URL"),
            ("redis://:s3cret@", "not a URL"),
            ("redis://:s3cret@redis/0?db=1", "query or fragment"),
            ("s3cret", "not a URL (no scheme://)"),
        ] {
            let error = RedisUrl::parse(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
            assert!(!error.contains("s3cret"), "{error}");
        }
    }
}
