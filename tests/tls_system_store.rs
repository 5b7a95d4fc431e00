//! Discovery and fetch over TLS trust the system's CA store: a server whose
//! certificate comes from a private CA is trusted once the CA is in the
//! store (named here by SSL_CERT_FILE, which the platform verifier reads
//! like the distribution's bundle), and refused when it is not.
//! Certificates and the server (`openssl s_server -WWW`, which serves the
//! files of its directory) are made with the openssl command.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::null())
        .status()
        .expect("the openssl command runs");
    assert!(status.success(), "openssl {args:?}");
}

/// A CA, a certificate for 127.0.0.1 signed by it, and `openssl s_server`
/// serving `dir` on a free port.
fn server(dir: &Path) -> (Child, u16) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(dir.join("ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-WWW", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-cert", "server.pem", "-key", "server.key"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, port)
}

/// What discovery and fetch get from `url`, with the store holding `ca`.
fn answers(url: &str, ca: &Path) -> [anyhow::Result<String>; 2] {
    std::env::set_var("SSL_CERT_FILE", ca);
    let discovery = coreos_cluster::host::discovery::allocate_public(url, 3);
    let http = coreos_cluster::host::http::Client::for_downloads();
    let fetch = coreos_cluster::host::fetch::flatcar::resolve_current(&http, url);
    [discovery, fetch]
}

// One test, not two: both change the process's SSL_CERT_FILE.
#[test]
fn private_ca_in_the_system_store_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    // What a discovery service and a Flatcar channel answer.
    std::fs::write(
        dir.path().join("new?size=3"),
        "https://discovery.example/abc\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("current")).unwrap();
    std::fs::write(
        dir.path().join("current/version.txt"),
        "FLATCAR_VERSION=1.2.3\n",
    )
    .unwrap();
    let (mut child, port) = server(dir.path());
    let url = format!("https://127.0.0.1:{port}");
    // Without the CA in the store: the certificate is refused.
    let untrusted = answers(&url, &dir.path().join("missing.pem"));
    // With it: both read their answer.
    let [discovery, fetch] = answers(&url, &dir.path().join("ca.pem"));
    child.kill().unwrap();
    child.wait().unwrap();
    for refused in untrusted {
        let refused = format!("{:#}", refused.unwrap_err());
        assert!(refused.to_lowercase().contains("certificate"), "{refused}");
    }
    assert_eq!(discovery.unwrap(), "https://discovery.example/abc");
    assert_eq!(fetch.unwrap(), "1.2.3");
}
