//! Allocating an etcd discovery URL for a cluster of N: from a public
//! discovery service (`GET <base>/new?size=N`) or on a self-hosted etcd v2
//! keys endpoint (`PUT .../_etcd/registry/<token>/_config/size`).

use anyhow::{bail, Context};
use ureq::http::Method;

use crate::base::text::quoted;
use crate::host::http::{with_retries, Answer, Client, Request};
use crate::model::values::check_url;

/// A discovery answer is one URL; anything longer is not one (and is
/// refused, not cut to a URL that only looks right).
const MAX_BODY: u64 = 4096;

/// The answer's text, when it is a success.
fn successful_text(mut answer: Answer) -> anyhow::Result<String> {
    let body = answer
        .read_body(MAX_BODY)
        .context("a discovery answer is one URL")?;
    let body = String::from_utf8_lossy(&body);
    if !answer.status().is_success() {
        bail!("HTTP {}: {}", answer.status(), quoted(body.trim()));
    }
    Ok(body.into_owned())
}

/// `GET <base>/new?size=N` on a public discovery service; returns the URL it gave.
pub fn allocate_public(base_url: &str, size: u8) -> anyhow::Result<String> {
    let url = format!("{base_url}/new?size={size}");
    let client = Client::for_exchanges();
    with_retries(&format!("GET {url}"), || {
        let body = successful_text(client.get(&url, &[])?)?;
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
    let client = Client::for_exchanges();
    let body = format!("value={size}");
    let request = Request {
        method: Method::PUT,
        headers: &[(
            "Content-Type",
            "application/x-www-form-urlencoded".to_string(),
        )],
        body: Some(body.as_bytes()),
    };
    with_retries(&format!("PUT {size_key}"), || {
        successful_text(client.send(&size_key, &request)?).map(drop)
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
    use crate::host::http::loopback::{redirect, response, serve};

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
    fn the_size_put_answered_307_is_sent_again_to_the_leader() {
        let (base, requests) = serve(|_, path| {
            if path.starts_with("/leader/") {
                response("201 Created", "", "{}")
            } else {
                redirect(
                    "307 Temporary Redirect",
                    &path.replacen("/v2/", "/leader/v2/", 1),
                )
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
}
