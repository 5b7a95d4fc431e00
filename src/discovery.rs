//! Allocating an etcd discovery URL for a cluster of N: from a public
//! discovery service (`GET <base>/new?size=N`) or on a self-hosted etcd v2
//! keys endpoint (`PUT .../_etcd/registry/<token>/_config/size`).

use std::io::Read;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::values::check_url;

/// One request's time limit, and how often and how long to back off.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BODY: u64 = 4096;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(REQUEST_TIMEOUT))
        // Statuses are checked here, with the body in the message.
        .http_status_as_error(false)
        .build()
        .into()
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
    let mut text = String::new();
    response
        .body_mut()
        .as_reader()
        .take(MAX_BODY)
        .read_to_string(&mut text)
        .context("reading the answer")?;
    Ok(text)
}

/// `GET <base>/new?size=N` on a public discovery service; returns the URL it gave.
pub fn allocate_public(base_url: &str, size: u8) -> anyhow::Result<String> {
    let url = format!("{base_url}/new?size={size}");
    let agent = agent();
    with_retries(&format!("GET {url}"), || {
        let mut response = agent.get(&url).call()?;
        let status = response.status();
        let body = read_body(&mut response)?;
        if !status.is_success() {
            bail!("HTTP {status}: {}", body.trim());
        }
        let answer = body.trim();
        // The service answers with the new cluster's URL and nothing else.
        match check_url(answer) {
            Ok(discovery) if !answer.contains('\n') => Ok(discovery),
            _ => bail!(
                "the answer is not a discovery URL: {:?}",
                answer.chars().take(120).collect::<String>()
            ),
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
        let mut response = agent
            .put(&size_key)
            .content_type("application/x-www-form-urlencoded")
            .send(format!("value={size}"))?;
        let status = response.status();
        let body = read_body(&mut response)?;
        if !status.is_success() {
            bail!("HTTP {status}: {}", body.trim());
        }
        Ok(())
    })?;
    Ok(discovery)
}

/// 128 random bits as 32 hex digits.
fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
