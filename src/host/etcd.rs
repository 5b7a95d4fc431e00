//! What `status` asks a node's etcd (or the proxy in front of it) over
//! HTTP: its health, and the cluster's members.

use std::net::Ipv4Addr;

use serde_json::Value;

use crate::base::names;
use crate::model::timeouts::ETCD_HEALTH_TIMEOUT;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(ETCD_HEALTH_TIMEOUT))
        .build()
        .into()
}

fn json(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Option<Value> {
    let text = response.ok()?.body_mut().read_to_string().ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether `GET /health` on the node's client port says healthy (through a
/// proxy: whether the member it forwards to is).
pub fn healthy(ip: Ipv4Addr) -> bool {
    let url = format!("{}/health", names::etcd_client_url(ip));
    let Some(body) = json(agent().get(&url).call()) else {
        return false;
    };
    // etcd answers {"health":"true"} (3.4: a string; some versions a bool).
    matches!(body.get("health"), Some(Value::String(s)) if s == "true")
        || body.get("health") == Some(&Value::Bool(true))
}

/// The addresses of the cluster's voting members, asked of the node at
/// `ip`: v3's JSON gateway, else v2's members API (CoreOS's etcd2). None
/// when the node answers neither.
pub fn member_addresses(ip: Ipv4Addr) -> Option<Vec<Ipv4Addr>> {
    let base = names::etcd_client_url(ip);
    let agent = agent();
    let v3 = json(
        agent
            .post(&format!("{base}/v3/cluster/member/list"))
            .send("{}"),
    );
    let body = v3
        .filter(|b| b.get("members").is_some())
        .or_else(|| json(agent.get(&format!("{base}/v2/members")).call()))?;
    Some(peer_addresses(&body))
}

/// The IPv4 hosts of every member's peer URLs (`peerURLs`, the same key in
/// v2 and v3): members are named by address, but the URL is what etcd uses.
fn peer_addresses(body: &Value) -> Vec<Ipv4Addr> {
    let members = body.get("members").and_then(Value::as_array);
    members
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("peerURLs")?.as_array())
        .flatten()
        .filter_map(|url| {
            let rest = url.as_str()?.split_once("://")?.1;
            rest.split([':', '/']).next()?.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_known_by_their_peer_urls() {
        // As etcd 3.4's JSON gateway answers (a member not started yet has no name).
        let v3: Value = serde_json::from_str(
            r#"{"header":{"cluster_id":"1"},"members":[
                {"ID":"1","name":"10.77.0.11","peerURLs":["http://10.77.0.11:2380"],"clientURLs":["http://10.77.0.11:2379"]},
                {"ID":"2","peerURLs":["http://10.77.0.12:2380"]}]}"#,
        )
        .unwrap();
        assert_eq!(
            peer_addresses(&v3),
            [Ipv4Addr::new(10, 77, 0, 11), Ipv4Addr::new(10, 77, 0, 12)]
        );
        let v2: Value = serde_json::from_str(
            r#"{"members":[{"id":"a","name":"n","peerURLs":["http://10.0.0.5:2380/"]}]}"#,
        )
        .unwrap();
        assert_eq!(peer_addresses(&v2), [Ipv4Addr::new(10, 0, 0, 5)]);
        assert!(peer_addresses(&serde_json::json!({"message": "404"})).is_empty());
    }
}
