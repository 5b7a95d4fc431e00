//! Allocating an etcd discovery URL for a cluster of N: from a public
//! discovery service (`GET <base>/new?size=N`) or on a self-hosted etcd v2
//! keys endpoint (`PUT .../_etcd/registry/<token>/_config/size`).

use std::io::Read;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::base::text::quoted;
use crate::model::values::check_url;

/// One request's time limit, and how often and how long to back off.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// A discovery answer is one URL; anything longer is not one (and is
/// refused, not cut to a URL that only looks right).
const MAX_BODY: u64 = 4096;
/// How many redirects a request follows (etcd answers 307 from a follower).
const MAX_REDIRECTS: u32 = 3;

/// An HTTP agent that trusts the system's CA store (a private CA added to
/// it works, as users of an Arch tool expect) and leaves redirects to
/// `send_following`, which can resend a PUT's body.
pub fn agent() -> ureq::Agent {
    use ureq::tls::{RootCerts, TlsConfig};
    ureq::Agent::config_builder()
        .timeout_global(Some(REQUEST_TIMEOUT))
        // Statuses are checked here, with the body in the message.
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::PlatformVerifier)
                .build(),
        )
        .build()
        .into()
}

/// Sends `request` to `url`, following 301/302/303/307/308 answers up to
/// MAX_REDIRECTS times with the same method and body (as 307 and 308 ask).
fn send_following(
    url: &str,
    mut request: impl FnMut(&str) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> anyhow::Result<ureq::http::Response<ureq::Body>> {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let response = request(&url)?;
        if !response.status().is_redirection() {
            return Ok(response);
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .with_context(|| format!("HTTP {} without a Location", response.status()))?;
        url = resolve(&url, location);
    }
    bail!(
        "more than {MAX_REDIRECTS} redirects, last to {}",
        quoted(&url)
    )
}

/// A Location (absolute, or a path on the same server) relative to `base`.
fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    format!("{}/{}", &base[..host_end], location.trim_start_matches('/'))
}

/// Runs `request` up to ATTEMPTS times with doubling backoff; the error of the
/// last attempt says what came back.
fn with_retries<T>(
    what: &str,
    mut request: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match request() {
            Ok(value) => return Ok(value),
            Err(err) if attempt >= ATTEMPTS => {
                return Err(err).with_context(|| format!("{what} failed after {ATTEMPTS} attempts"))
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

fn read_body(response: &mut ureq::http::Response<ureq::Body>) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    response
        .body_mut()
        .as_reader()
        .take(MAX_BODY + 1)
        .read_to_end(&mut bytes)
        .context("reading the answer")?;
    if bytes.len() as u64 > MAX_BODY {
        bail!("the answer is longer than {MAX_BODY} bytes; a discovery answer is one URL");
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `GET <base>/new?size=N` on a public discovery service; returns the URL it gave.
pub fn allocate_public(base_url: &str, size: u8) -> anyhow::Result<String> {
    let url = format!("{base_url}/new?size={size}");
    let agent = agent();
    with_retries(&format!("GET {url}"), || {
        let mut response = send_following(&url, |url| agent.get(url).call())?;
        let status = response.status();
        let body = read_body(&mut response)?;
        if !status.is_success() {
            bail!("HTTP {status}: {}", quoted(body.trim()));
        }
        let answer = body.trim();
        // The service answers with the new cluster's URL and nothing else.
        match check_url(answer) {
            Ok(discovery) if !answer.contains('\n') => Ok(discovery),
            _ => bail!("the answer is not a discovery URL: {}", quoted(answer)),
        }
    })
}

/// A fresh token on a self-hosted etcd v2 keys endpoint, with the cluster size set.
pub fn allocate_etcd(etcd_url: &str, size: u8) -> anyhow::Result<String> {
    let token = random_token()?;
    let discovery = format!("{etcd_url}/v2/keys/_etcd/registry/{token}");
    let size_key = format!("{discovery}/_config/size");
    let agent = agent();
    with_retries(&format!("PUT {size_key}"), || {
        let mut response = send_following(&size_key, |url| {
            agent
                .put(url)
                .content_type("application/x-www-form-urlencoded")
                .send(format!("value={size}"))
        })?;
        let status = response.status();
        let body = read_body(&mut response)?;
        if !status.is_success() {
            bail!("HTTP {status}: {}", quoted(body.trim()));
        }
        Ok(())
    })?;
    Ok(discovery)
}

/// 128 random bits as 32 hex digits.
fn random_token() -> anyhow::Result<String> {
    crate::host::random::random_hex(16).context("reading /dev/urandom")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    /// A one-thread HTTP stand-in: answers each request with `answer(method,
    /// path)` and reports `method path body` of each request it got.
    fn serve(answer: fn(&str, &str) -> String) -> (String, mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (seen, requests) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut parts = line.split_whitespace();
                let (method, path) = (parts.next().unwrap(), parts.next().unwrap());
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let body = String::from_utf8(body).unwrap();
                let _ = seen.send(format!("{method} {path} {body}"));
                let _ = reader.get_mut().write_all(answer(method, path).as_bytes());
            }
        });
        (base, requests)
    }

    fn response(status: &str, headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    #[test]
    fn an_answer_over_4096_bytes_is_an_error_not_a_cut_url() {
        let (base, _) = serve(|_, _| {
            let url = format!("https://discovery.example/{}", "a".repeat(5000));
            response("200 OK", "", &url)
        });
        let err = format!("{:#}", allocate_public(&base, 3).unwrap_err());
        assert!(err.contains("longer than 4096 bytes"), "{err}");
    }

    #[test]
    fn a_put_answered_307_is_sent_again_to_the_new_place() {
        let (base, requests) = serve(|_, path| {
            if path.starts_with("/leader/") {
                response("201 Created", "", "{}")
            } else {
                let to = path.replacen("/v2/", "/leader/v2/", 1);
                response("307 Temporary Redirect", &format!("Location: {to}\r\n"), "")
            }
        });
        let url = allocate_etcd(&base, 3).unwrap();
        assert!(url.starts_with(&format!("{base}/v2/keys/_etcd/registry/")));
        let first = requests.recv().unwrap();
        let second = requests.recv().unwrap();
        assert!(first.starts_with("PUT /v2/keys/_etcd/registry/"), "{first}");
        assert!(
            second.starts_with("PUT /leader/v2/keys/_etcd/registry/"),
            "{second}"
        );
        assert!(second.ends_with("/_config/size value=3"), "{second}");
    }

    #[test]
    fn relative_locations() {
        assert_eq!(resolve("http://h:1/a/b", "/c"), "http://h:1/c");
        assert_eq!(resolve("http://h:1/a", "https://x/y"), "https://x/y");
    }
}
