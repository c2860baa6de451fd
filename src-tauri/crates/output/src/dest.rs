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
        let (scheme, rest) = split_scheme(url)?;
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

    /// A destination from a server URL and a key kept apart (a saved
    /// profile): `rtmp(s)://host[:port]/app[/...][?query]`. Everything
    /// after the host is the application path, query string included, so
    /// the tcUrl keeps it (YouTube's backup ingest `.../live2?backup=1`);
    /// the key is used as given, its own query string included.
    pub fn from_parts(server_url: &str, key: StreamKey) -> Result<Self, DestError> {
        let url = server_url.trim();
        let (scheme, rest) = split_scheme(url)?;
        let (authority, path) = rest.split_once('/').ok_or(DestError::NoApp)?;
        let (host, port) = parse_authority(authority, scheme)?;
        let app = path.trim_matches('/');
        if app.is_empty() || app.starts_with('?') {
            return Err(DestError::NoApp);
        }
        if key.expose().trim().is_empty() {
            return Err(DestError::NoKey);
        }
        Ok(Self {
            scheme,
            host,
            port,
            app: app.to_owned(),
            key,
        })
    }

    /// Where an Enhanced RTMP `ReconnectRequest` sends us: its `tcUrl`,
    /// absolute (`rtmp://host/app`), network-path (`//host/app`),
    /// absolute-path (`/app`) or relative-path (`app2`, replacing the last
    /// segment), resolved against this destination's tcUrl (RFC 3986); no
    /// tcUrl: here again. The key stays.
    pub fn reconnect_target(&self, tc_url: Option<&str>) -> Result<Self, DestError> {
        let Some(t) = tc_url.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(self.clone());
        };
        let scheme = match self.scheme {
            Scheme::Rtmp => "rtmp",
            Scheme::Rtmps => "rtmps",
        };
        let absolute = if t.contains("://") {
            t.to_owned()
        } else if let Some(rest) = t.strip_prefix("//") {
            format!("{scheme}://{rest}")
        } else if let Some(path) = t.strip_prefix('/') {
            format!("{scheme}://{}:{}/{path}", self.host_for_url(), self.port)
        } else {
            let base = match self.app.rsplit_once('/') {
                Some((dir, _)) => format!("{dir}/"),
                None => String::new(),
            };
            format!("{scheme}://{}:{}/{base}{t}", self.host_for_url(), self.port)
        };
        Self::from_parts(&absolute, self.key.clone())
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

fn split_scheme(url: &str) -> Result<(Scheme, &str), DestError> {
    if let Some(r) = strip_prefix_ci(url, "rtmp://") {
        Ok((Scheme::Rtmp, r))
    } else if let Some(r) = strip_prefix_ci(url, "rtmps://") {
        Ok((Scheme::Rtmps, r))
    } else {
        Err(DestError::Scheme)
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
    fn server_url_and_key_stay_apart_and_the_query_stays_in_the_tc_url() {
        let d = Destination::from_parts(
            "rtmp://b.rtmp.youtube.com/live2?backup=1",
            StreamKey::new("abcd-efgh-ijkl"),
        )
        .unwrap();
        assert_eq!(d.app, "live2?backup=1");
        assert_eq!(d.tc_url(), "rtmp://b.rtmp.youtube.com:1935/live2?backup=1");
        assert_eq!(d.key.expose(), "abcd-efgh-ijkl");
        // A key with its own query string (Facebook) is kept whole.
        let d = Destination::from_parts(
            "rtmps://live-api-s.facebook.com:443/rtmp/",
            StreamKey::new("FB-1?s_bl=1&s_sw=0"),
        )
        .unwrap();
        assert_eq!(d.app, "rtmp");
        assert_eq!(d.key.expose(), "FB-1?s_bl=1&s_sw=0");
        assert!(!d.redacted().contains("FB-1"));
        assert_eq!(
            Destination::from_parts("rtmp://h/", StreamKey::new("k")),
            Err(DestError::NoApp)
        );
        assert_eq!(
            Destination::from_parts("rtmp://h/app", StreamKey::new(" ")),
            Err(DestError::NoKey)
        );
    }

    #[test]
    fn reconnect_targets_resolve_against_the_current_tc_url() {
        let d = Destination::parse("rtmps://ingest.example:443/a/live/KEY").unwrap();
        let t = |u: Option<&str>| d.reconnect_target(u).unwrap().tc_url();
        assert_eq!(t(None), "rtmps://ingest.example:443/a/live");
        assert_eq!(
            t(Some("rtmp://other.example:1936/app")),
            "rtmp://other.example:1936/app"
        );
        assert_eq!(
            t(Some("//edge2.example/app2")),
            "rtmps://edge2.example:443/app2"
        );
        assert_eq!(t(Some("/moved")), "rtmps://ingest.example:443/moved");
        assert_eq!(t(Some("live2")), "rtmps://ingest.example:443/a/live2");
        assert_eq!(d.reconnect_target(Some("/x")).unwrap().key.expose(), "KEY");
        assert!(d.reconnect_target(Some("http://x/y")).is_err());
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
