//! Destination URLs: `rtmp://host[:port]/app[/...]/<key>`.

use std::fmt;

use onair_rtmp::StreamKey;

/// Transport of a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain TCP, default port 1935.
    Rtmp,
    /// TLS, default port 443.
    Rtmps,
}

/// A parsed destination. `Debug` and `Display` show the URL with the key
/// replaced by `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Destination {
    /// rtmp or rtmps.
    pub scheme: Scheme,
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Application path (everything between the host and the key).
    pub app: String,
    /// The stream key: the last path segment, query string included.
    pub key: StreamKey,
}

/// Why a destination URL is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestError {
    /// Not `rtmp://` or `rtmps://`.
    #[error("destination must start with rtmp:// or rtmps://")]
    Scheme,
    /// No host.
    #[error("destination has no host")]
    NoHost,
    /// Port not a number in 1..=65535.
    #[error("destination port is not a valid port number")]
    BadPort,
    /// No application path.
    #[error("destination has no application path (rtmp://host/app/key)")]
    NoApp,
    /// No key segment.
    #[error("destination has no stream key (the last path segment)")]
    NoKey,
}

impl Destination {
    /// Parses `rtmp://host[:port]/app[/...]/<key>`.
    pub fn parse(url: &str) -> Result<Self, DestError> {
        let url = url.trim();
        let (scheme, rest) = if let Some(r) = strip_prefix_ci(url, "rtmp://") {
            (Scheme::Rtmp, r)
        } else if let Some(r) = strip_prefix_ci(url, "rtmps://") {
            (Scheme::Rtmps, r)
        } else {
            return Err(DestError::Scheme);
        };
        let (authority, path) = rest.split_once('/').ok_or(DestError::NoApp)?;
        let (host, port) = parse_authority(authority, scheme)?;
        // The key is the last segment, query string included; a query
        // string can itself contain '/', so split before the '?'.
        let (before_query, query) = match path.find('?') {
            Some(i) => (&path[..i], &path[i..]),
            None => (path, ""),
        };
        let (app, key_seg) = before_query.rsplit_once('/').ok_or(DestError::NoApp)?;
        let app = app.trim_matches('/');
        if app.is_empty() {
            return Err(DestError::NoApp);
        }
        let key = format!("{key_seg}{query}");
        if key_seg.is_empty() {
            return Err(DestError::NoKey);
        }
        Ok(Self {
            scheme,
            host,
            port,
            app: app.to_owned(),
            key: StreamKey::new(key),
        })
    }

    /// `tcUrl` for `connect`.
    pub fn tc_url(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Rtmp => "rtmp",
            Scheme::Rtmps => "rtmps",
        };
        format!(
            "{scheme}://{}:{}/{}",
            self.host_for_url(),
            self.port,
            self.app
        )
    }

    fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// The URL with the key replaced by `***`: safe to show and log.
    pub fn redacted(&self) -> String {
        format!("{}/***", self.tc_url())
    }
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Destination({})", self.redacted())
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix) {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

fn parse_authority(a: &str, scheme: Scheme) -> Result<(String, u16), DestError> {
    let default = match scheme {
        Scheme::Rtmp => 1935,
        Scheme::Rtmps => 443,
    };
    let (host, port) = if let Some(rest) = a.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or(DestError::NoHost)?;
        (h, after.strip_prefix(':'))
    } else {
        match a.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (a, None),
        }
    };
    if host.is_empty() {
        return Err(DestError::NoHost);
    }
    let port = match port {
        None => default,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or(DestError::BadPort)?,
    };
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_segment_is_the_key_and_the_rest_the_app() {
        let d = Destination::parse("rtmp://live.twitch.tv/app/live_123_abc").unwrap();
        assert_eq!(
            (d.host.as_str(), d.port, d.app.as_str()),
            ("live.twitch.tv", 1935, "app")
        );
        assert_eq!(d.key.expose(), "live_123_abc");
        assert_eq!(d.tc_url(), "rtmp://live.twitch.tv:1935/app");
        assert_eq!(d.redacted(), "rtmp://live.twitch.tv:1935/app/***");
    }

    #[test]
    fn query_string_stays_with_the_key() {
        let d =
            Destination::parse("rtmps://live-api-s.facebook.com:443/rtmp/FB-123?s_bl=1&s_sw=0/x")
                .unwrap();
        assert_eq!(d.scheme, Scheme::Rtmps);
        assert_eq!(d.app, "rtmp");
        assert_eq!(d.key.expose(), "FB-123?s_bl=1&s_sw=0/x");
        assert!(!format!("{d} {d:?}").contains("FB-123"));
    }

    #[test]
    fn nested_app_paths_and_default_ports() {
        let d = Destination::parse("rtmps://host/a/b/key").unwrap();
        assert_eq!((d.app.as_str(), d.port), ("a/b", 443));
        let d = Destination::parse("rtmp://127.0.0.1:19350/live/k").unwrap();
        assert_eq!(d.port, 19350);
        let d = Destination::parse("rtmp://[::1]:1935/live/k").unwrap();
        assert_eq!(d.host, "::1");
        assert_eq!(d.tc_url(), "rtmp://[::1]:1935/live");
    }

    #[test]
    fn malformed_urls_are_typed_errors() {
        assert_eq!(Destination::parse("http://h/a/k"), Err(DestError::Scheme));
        assert_eq!(Destination::parse("rtmp://h"), Err(DestError::NoApp));
        assert_eq!(Destination::parse("rtmp://h/key"), Err(DestError::NoApp));
        assert_eq!(Destination::parse("rtmp://h/app/"), Err(DestError::NoKey));
        assert_eq!(
            Destination::parse("rtmp://h:99999/app/k"),
            Err(DestError::BadPort)
        );
        assert_eq!(
            Destination::parse("rtmp://:1935/app/k"),
            Err(DestError::NoHost)
        );
    }
}
