//! The one HTTP client, for discovery and fetch alike: TLS trusts the
//! system's CA store, redirects are followed by hand (bounded, the same
//! method and body resent, never from https down to http), answers are read
//! up to a limit the caller gives, and a failed exchange can be retried.

use std::io::Read;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ureq::http::{Method, Response, StatusCode};
use ureq::{AsSendBody, Body};

use crate::base::text::quoted;
use crate::model::timeouts::{
    HTTP_ATTEMPTS, HTTP_CONNECT_TIMEOUT, HTTP_EXCHANGE_TIMEOUT, HTTP_FIRST_BACKOFF,
    HTTP_STALL_TIMEOUT,
};

/// Redirects one request follows: Flatcar's release host uses one, an etcd
/// follower answers a write with one 307 to its leader.
const MAX_REDIRECTS: usize = 5;
const USER_AGENT: &str = concat!("coreos-cluster/", env!("CARGO_PKG_VERSION"));
/// What a download's connection reads from the socket at once, so also the
/// most one read of its body returns: 1 MiB makes fewer system calls and
/// hand-overs between threads than ureq's 128 KiB.
pub const DOWNLOAD_BUFFER_SIZE: usize = 1024 * 1024;

/// An HTTP client; one per job, so connections are reused.
pub struct Client {
    agent: ureq::Agent,
    /// The time all hops of one `send` share, for short exchanges.
    exchange_limit: Option<Duration>,
}

/// What to send to a URL and again to each place it redirects to.
pub struct Request<'a> {
    pub method: Method,
    pub headers: &'a [(&'a str, String)],
    /// `None` sends no body at all (as a GET must).
    pub body: Option<&'a [u8]>,
}

impl<'a> Request<'a> {
    pub fn get(headers: &'a [(&'a str, String)]) -> Self {
        Request {
            method: Method::GET,
            headers,
            body: None,
        }
    }
}

/// A final (not redirecting) answer and the URL that gave it.
pub struct Answer {
    pub response: Response<Body>,
    pub url: String,
}

impl Answer {
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }

    /// The whole body, refused (not cut) when longer than `limit` bytes.
    pub fn read_body(&mut self, limit: u64) -> anyhow::Result<Vec<u8>> {
        let mut body = Vec::new();
        self.response
            .body_mut()
            .as_reader()
            .take(limit + 1)
            .read_to_end(&mut body)
            .with_context(|| format!("reading {}", self.url))?;
        if body.len() as u64 > limit {
            bail!("{}: the answer is longer than {limit} bytes", self.url);
        }
        Ok(body)
    }
}

impl Client {
    /// For short exchanges: each `send`, redirects included, done within
    /// HTTP_EXCHANGE_TIMEOUT.
    pub fn for_exchanges() -> Self {
        Self::for_exchanges_within(HTTP_EXCHANGE_TIMEOUT)
    }

    fn for_exchanges_within(limit: Duration) -> Self {
        Client {
            exchange_limit: Some(limit),
            ..Self::new(ureq::Agent::config_builder())
        }
    }

    /// For downloads of any size: they may take long but never hang.
    pub fn for_downloads() -> Self {
        Self::new(
            ureq::Agent::config_builder()
                .timeout_connect(Some(HTTP_CONNECT_TIMEOUT))
                .timeout_recv_body(Some(HTTP_STALL_TIMEOUT))
                .input_buffer_size(DOWNLOAD_BUFFER_SIZE),
        )
    }

    fn new(config: ureq::config::ConfigBuilder<ureq::typestate::AgentScope>) -> Self {
        use ureq::tls::{RootCerts, TlsConfig};
        let config = config
            // Statuses are the caller's to judge (a 404 or a 206 is an answer).
            .http_status_as_error(false)
            // Redirects are followed in `send`, which can resend a PUT's body.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(USER_AGENT)
            // The system's CA store, so a private CA added to it works.
            .tls_config(
                TlsConfig::builder()
                    .root_certs(RootCerts::PlatformVerifier)
                    .build(),
            )
            .build();
        Client {
            agent: ureq::Agent::new_with_config(config),
            exchange_limit: None,
        }
    }

    /// Runs one request, within `left` when the exchange has a limit (a
    /// request-level setting, for which ureq sets up TLS anew: a cost only
    /// short exchanges pay).
    fn run(
        &self,
        request: ureq::http::Request<impl AsSendBody>,
        left: Option<Duration>,
    ) -> Result<Response<Body>, ureq::Error> {
        match left {
            None => self.agent.run(request),
            Some(left) => {
                let request = self.agent.configure_request(request);
                self.agent.run(request.timeout_global(Some(left)).build())
            }
        }
    }

    /// Sends `request` to `url`, following 301, 302, 303, 307 and 308 with the
    /// same method, headers and body (as a 307 from an etcd follower asks).
    pub fn send(&self, url: &str, request: &Request) -> anyhow::Result<Answer> {
        let method = &request.method;
        let deadline = self.exchange_limit.map(|limit| Instant::now() + limit);
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let mut builder = ureq::http::Request::builder()
                .method(method.clone())
                .uri(&url)
                // Bytes as stored: hashes and Content-Length are of those.
                .header("Accept-Encoding", "identity");
            for (name, value) in request.headers {
                builder = builder.header(*name, value);
            }
            let sent = match request.body {
                None => builder.body(()).map(|r| self.run(r, left)),
                Some(body) => builder.body(body).map(|r| self.run(r, left)),
            };
            let response = sent
                .with_context(|| format!("{method} {}: not a valid request", quoted(&url)))?
                .with_context(|| format!("{method} {url}"))?;
            // Other 3xx (304 Not Modified, 300 Multiple Choices) are answers.
            if !matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
                return Ok(Answer { response, url });
            }
            let location = response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok());
            url = next_hop(&url, response.status(), location)?;
        }
        bail!("{method} {url}: more than {MAX_REDIRECTS} redirects")
    }

    pub fn get(&self, url: &str, headers: &[(&str, String)]) -> anyhow::Result<Answer> {
        self.send(url, &Request::get(headers))
    }

    /// A small file (version.txt, a key, a signature) of at most `limit` bytes.
    pub fn get_bytes(&self, url: &str, limit: u64) -> anyhow::Result<Vec<u8>> {
        let mut answer = self.get(url, &[])?;
        if !answer.status().is_success() {
            bail!("GET {}: HTTP {}", answer.url, answer.status());
        }
        answer.read_body(limit)
    }

    /// Whether a URL answers 404 (a file missing upstream, not a network failure).
    pub fn is_missing(&self, url: &str) -> anyhow::Result<bool> {
        let answer = self.get(url, &[("Range", "bytes=0-0".to_string())])?;
        Ok(answer.status() == StatusCode::NOT_FOUND)
    }
}

/// Runs `request` up to HTTP_ATTEMPTS times with doubling backoff; the error of
/// the last attempt says what came back.
pub fn with_retries<T>(
    what: &str,
    mut request: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut backoff = HTTP_FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match request() {
            Ok(value) => return Ok(value),
            Err(err) if attempt >= HTTP_ATTEMPTS => {
                return Err(err)
                    .with_context(|| format!("{what} failed after {HTTP_ATTEMPTS} attempts"))
            }
            Err(err) => {
                tracing::warn!(
                    "{what}: attempt {attempt} failed: {err:#}; retrying in {backoff:?}"
                );
                std::thread::sleep(backoff);
                backoff *= 2;
                attempt += 1;
            }
        }
    }
}

/// Where a redirect from `from` leads: its Location resolved against `from`;
/// an error when there is none, or when it would leave https for http.
fn next_hop(from: &str, status: StatusCode, location: Option<&str>) -> anyhow::Result<String> {
    let location = location.with_context(|| format!("{from}: HTTP {status} without a Location"))?;
    let next = resolve(from, location)?;
    if from.starts_with("https://") && !next.starts_with("https://") {
        bail!("refusing the redirect from {from} to {next}: never from https down to http");
    }
    Ok(next)
}

/// A Location (absolute, `//host/p`, `/p`, `p`, `../p`, `?q`) resolved
/// against the URL that sent it, as RFC 3986 (section 5.2) does. Fragments
/// are dropped: they are never sent.
fn resolve(base: &str, location: &str) -> anyhow::Result<String> {
    let without_fragment = |url: &str| url.split('#').next().unwrap_or_default().to_owned();
    let (base, location) = (without_fragment(base), without_fragment(location));
    if has_scheme(&location) {
        return Ok(location);
    }
    let scheme_end = base
        .find("://")
        .with_context(|| format!("{}: URL without a scheme", quoted(&base)))?;
    if location.starts_with("//") {
        return Ok(format!("{}:{location}", &base[..scheme_end]));
    }
    let authority = scheme_end + 3;
    let path_start = base[authority..]
        .find(['/', '?'])
        .map_or(base.len(), |i| authority + i);
    let origin = &base[..path_start];
    let base_path = base[path_start..].split('?').next().unwrap_or_default();
    if location.is_empty() {
        return Ok(base);
    }
    if location.starts_with('?') {
        return Ok(format!("{origin}{base_path}{location}"));
    }
    let (path, query) = location
        .find('?')
        .map_or((location.as_str(), ""), |i| location.split_at(i));
    let merged = if path.starts_with('/') {
        path.to_string()
    } else {
        // The base's directory: all up to its last `/` (`/` for none).
        let dir = base_path.rfind('/').map_or("/", |i| &base_path[..=i]);
        format!("{dir}{path}")
    };
    Ok(format!("{origin}{}{query}", remove_dot_segments(&merged)))
}

/// Whether a URL reference starts with a scheme (`https:`, `http:`, ...).
fn has_scheme(reference: &str) -> bool {
    reference.split_once(':').is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    })
}

/// `/a/b/../c/./d` → `/a/c/d`; never above the root.
fn remove_dot_segments(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut out: Vec<&str> = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." => {}
            ".." => {
                out.pop();
            }
            other => out.push(other),
        }
        // A path ending in `.` or `..` names a directory: keep its slash.
        if last && matches!(*segment, "." | "..") {
            out.push("");
        }
    }
    format!("/{}", out.join("/"))
}

/// A loopback HTTP stand-in for tests.
#[cfg(test)]
pub mod loopback;

#[cfg(test)]
mod tests {
    use super::loopback::{redirect, response, serve};
    use super::*;

    #[test]
    fn a_put_answered_307_is_sent_again_to_the_new_place() {
        let (base, requests) = serve(|_, path| match path {
            "/leader/k" => response("201 Created", "", "{}"),
            _ => redirect("307 Temporary Redirect", "/leader/k"),
        });
        let request = Request {
            method: Method::PUT,
            headers: &[],
            body: Some(b"value=3"),
        };
        let answer = Client::for_exchanges()
            .send(&format!("{base}/k"), &request)
            .unwrap();
        assert_eq!(answer.status(), StatusCode::CREATED);
        assert_eq!(answer.url, format!("{base}/leader/k"));
        assert_eq!(requests.recv().unwrap(), "PUT /k value=3");
        assert_eq!(requests.recv().unwrap(), "PUT /leader/k value=3");
    }

    #[test]
    fn a_scheme_relative_location_names_another_server() {
        let (other, _) = serve(|_, path| response("200 OK", "", path));
        let to = format!("{}/p", other.trim_start_matches("http:"));
        let (base, _) = serve(move |_, _| redirect("302 Found", &to));
        let bytes = Client::for_exchanges()
            .get_bytes(&format!("{base}/a/b"), 100)
            .unwrap();
        assert_eq!(bytes, b"/p");
    }

    #[test]
    fn a_relative_location_resolves_against_the_sender() {
        let (base, requests) = serve(|_, path| match path {
            "/a/b/c" => redirect("301 Moved Permanently", "../p"),
            _ => response("200 OK", "", path),
        });
        let bytes = Client::for_exchanges()
            .get_bytes(&format!("{base}/a/b/c"), 100)
            .unwrap();
        assert_eq!(bytes, b"/a/p");
        assert_eq!(requests.recv().unwrap(), "GET /a/b/c ");
        assert_eq!(requests.recv().unwrap(), "GET /a/p ");
    }

    #[test]
    fn locations_resolve_as_rfc_3986_says() {
        let base = "https://h:1/a/b/c.txt?q=1";
        for (location, expected) in [
            ("https://cdn/x", "https://cdn/x"),
            ("http://cdn/x", "http://cdn/x"),
            ("//cdn/p?x", "https://cdn/p?x"),
            ("/p", "https://h:1/p"),
            ("/p/../q", "https://h:1/q"),
            ("p", "https://h:1/a/b/p"),
            ("./p", "https://h:1/a/b/p"),
            ("../p", "https://h:1/a/p"),
            ("../../../../p", "https://h:1/p"),
            ("..", "https://h:1/a/"),
            ("p?r=2", "https://h:1/a/b/p?r=2"),
            ("?r=2", "https://h:1/a/b/c.txt?r=2"),
            ("p#part", "https://h:1/a/b/p"),
            ("", "https://h:1/a/b/c.txt?q=1"),
        ] {
            assert_eq!(resolve(base, location).unwrap(), expected, "{location}");
        }
        assert_eq!(resolve("http://h", "p").unwrap(), "http://h/p");
        assert_eq!(resolve("http://h?q", "/p").unwrap(), "http://h/p");
        assert_eq!(resolve("http://h/a#f", "b").unwrap(), "http://h/b");
    }

    #[test]
    fn a_redirect_from_https_to_http_is_refused_naming_both() {
        let found = StatusCode::FOUND;
        let err = next_hop("https://a/x", found, Some("http://b/y")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refusing the redirect from https://a/x to http://b/y: never from https down to http"
        );
        assert!(next_hop("https://a/x", found, Some("//b/y")).is_ok());
        assert!(next_hop("http://a/x", found, Some("https://b/y")).is_ok());
        let err = next_hop("https://a/x", found, None).unwrap_err();
        assert!(format!("{err}").contains("without a Location"), "{err}");
    }

    #[test]
    fn five_redirects_are_followed_and_a_sixth_is_an_error() {
        // `/n` redirects to `/n+1` until `/end`.
        let chain = |end: u32| {
            serve(move |_, path| {
                let n: u32 = path[1..].parse().unwrap();
                if n == end {
                    response("200 OK", "", "here")
                } else {
                    redirect("302 Found", &format!("/{}", n + 1))
                }
            })
            .0
        };
        let client = Client::for_exchanges();
        assert_eq!(
            client.get_bytes(&format!("{}/0", chain(5)), 10).unwrap(),
            b"here"
        );
        let err = client
            .get_bytes(&format!("{}/0", chain(6)), 10)
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("more than 5 redirects"),
            "{err:#}"
        );
    }

    #[test]
    fn the_hops_of_an_exchange_share_its_time_limit() {
        // Each hop takes 150 ms, under the 400 ms limit; all of them do not.
        let (base, _) = serve(|_, path| {
            std::thread::sleep(Duration::from_millis(150));
            let n: u32 = path[1..].parse().unwrap();
            redirect("302 Found", &format!("/{}", n + 1))
        });
        let client = Client::for_exchanges_within(Duration::from_millis(400));
        let err = client.get(&format!("{base}/0"), &[]).err().unwrap();
        assert!(
            format!("{err:#}").to_lowercase().contains("timeout"),
            "{err:#}"
        );
    }

    #[test]
    fn a_redirect_without_location_is_an_error() {
        let (base, _) = serve(|_, _| response("302 Found", "", ""));
        let err = Client::for_exchanges().get(&base, &[]).err().unwrap();
        assert!(
            format!("{err:#}").contains("HTTP 302 Found without a Location"),
            "{err:#}"
        );
    }

    #[test]
    fn an_answer_over_the_limit_is_an_error_not_cut() {
        let (base, _) = serve(|_, _| response("200 OK", "", "0123456789"));
        let client = Client::for_exchanges();
        assert_eq!(client.get_bytes(&base, 10).unwrap(), b"0123456789");
        let err = client.get_bytes(&base, 9).unwrap_err();
        assert!(
            format!("{err:#}").contains("longer than 9 bytes"),
            "{err:#}"
        );
    }
}
