//! The configuration file: the generated example reads back as the defaults, a file sets
//! fields, variables override the file, and mistakes are reported with their place.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use std::path::PathBuf;

use hubgate_gateway::config::{Config, ConfigError};

fn write(name: &str, text: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("hubgate-config-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn no_env() -> std::vec::IntoIter<(String, String)> {
    Vec::new().into_iter()
}

#[test]
fn the_example_reads_back_as_the_defaults() {
    let example = Config::example_toml();
    let parsed: Config = toml::from_str(&example).unwrap();
    assert_eq!(parsed, Config::default());
    // Through `load` as well, from a file.
    let path = write("example", &example);
    assert_eq!(
        Config::load(Some(&path), no_env()).unwrap(),
        Config::default()
    );
    std::fs::remove_file(path).unwrap();

    // Every field and its variable is in the example, with its documentation.
    for needle in [
        "data_dir = \"./hubgate-data\"",
        "listen = \"127.0.0.1:8079\"",
        "metrics_listen = \"127.0.0.1:9464\"",
        "# plain_http_listen = ",
        "# smki_dir = ",
        "[tls]",
        "enabled = true",
        "mutual_tls = false",
        "HUBGATE_TLS_MUTUAL",
        "HUBGATE_LOG_JSON",
        "HUBGATE_SMKI_DIR",
        "[verifier_pool]",
        "max_batch = 64",
        "[limits]",
        "[logging]",
        "level = \"info\"",
        "[delivery]",
        "[clock]",
        "# pinned = ",
        "# [users.\"90-B3-D5-1F-40-01-00-00\"]",
        "HUBGATE_USERS__<USER ID>__SUSPENDED",
    ] {
        assert!(
            example.contains(needle),
            "missing {needle:?} in:\n{example}"
        );
    }
    // Uncommenting the User example gives a valid file.
    let uncommented = example
        .lines()
        .map(|l| {
            if l.starts_with("# [users.")
                || l.starts_with("# delivery_endpoint")
                || l.starts_with("# suspended")
            {
                &l[2..]
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let with_user: Config = toml::from_str(&uncommented).unwrap();
    assert_eq!(
        with_user.users["90-B3-D5-1F-40-01-00-00"]
            .delivery_endpoint
            .as_deref(),
        Some("https://supplier.example:8443/duis")
    );
}

#[test]
fn file_then_environment() {
    let path = write(
        "layered",
        r#"
data_dir = "/var/lib/hubgate"
listen = "0.0.0.0:443"
smki_dir = "/srv/smki"

[tls]
mutual_tls = true
client_ca = "/etc/hubgate/users-ca.pem"

[users."90B3D51F30010000"]
delivery_endpoint = "https://supplier.example/duis"

[clock]
pinned = "2024-06-01T00:00:00Z"
"#,
    );
    let c = Config::load(Some(&path), no_env()).unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/hubgate"));
    assert_eq!(c.listen.port(), 443);
    assert_eq!(c.smki_dir, Some(PathBuf::from("/srv/smki")));
    assert!(c.tls.enabled && c.tls.mutual_tls);
    assert_eq!(
        c.client_ca_path(),
        Some(PathBuf::from("/etc/hubgate/users-ca.pem"))
    );
    assert_eq!(
        c.tls_cert_path(),
        PathBuf::from("/var/lib/hubgate/tls/server.pem")
    );
    assert_eq!(c.clock.pinned_ms(), Some(1_717_200_000_000));
    // Untouched sections keep their defaults.
    assert_eq!(c.delivery, Config::default().delivery);

    let env = vec![
        ("HUBGATE_LISTEN".to_string(), "127.0.0.1:8443".to_string()),
        ("HUBGATE_SMKI_DIR".to_string(), String::new()),
        ("HUBGATE_TLS__MUTUAL_TLS".to_string(), "false".to_string()),
        (
            "HUBGATE_USERS__90B3D51F30010000__SUSPENDED".to_string(),
            "on".to_string(),
        ),
        ("HUBGATE_DELIVERY__RETRIES".to_string(), "0".to_string()),
        ("OTHER".to_string(), "ignored".to_string()),
    ];
    let c = Config::load(Some(&path), env.into_iter()).unwrap();
    assert_eq!(c.listen.port(), 8443);
    assert_eq!(c.smki_dir, None);
    assert!(!c.tls.mutual_tls);
    assert_eq!(c.client_ca_path(), None);
    let u = &c.users["90B3D51F30010000"];
    assert!(u.suspended);
    assert_eq!(
        u.delivery_endpoint.as_deref(),
        Some("https://supplier.example/duis")
    );
    assert_eq!(c.delivery.retries, 0);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn mistakes_name_their_place() {
    let cases = [
        ("unknown", "listen = \"127.0.0.1:1\"\nlisen = 3\n", "lisen"),
        ("nested", "[tls]\nmutual = true\n", "mutual"),
        ("type", "[verifier_pool]\nthreads = \"four\"\n", "threads"),
        ("syntax", "listen = \n", "line 1"),
        ("addr", "metrics_listen = \"localhost\"\n", "metrics_listen"),
    ];
    for (name, text, needle) in cases {
        let path = write(name, text);
        let e = Config::load(Some(&path), no_env()).unwrap_err();
        assert!(matches!(e, ConfigError::File { .. }), "{name}: {e}");
        let msg = e.to_string();
        assert!(msg.contains(needle), "{name}: {msg}");
        assert!(msg.contains(&path.display().to_string()), "{name}: {msg}");
        std::fs::remove_file(path).unwrap();
    }

    let semantic = [
        ("half-tls", "[tls]\ncert = \"a.pem\"\n", "tls.cert"),
        ("pinned", "[clock]\npinned = \"soon\"\n", "clock.pinned"),
        ("user-id", "[users.bob]\nsuspended = true\n", "users.bob"),
        (
            "same-user",
            "[users.\"90B3D51F30010000\"]\n[users.\"90-b3-d5-1f-30-01-00-00\"]\n",
            "users.",
        ),
        (
            "endpoint",
            "[users.\"90B3D51F30010000\"]\ndelivery_endpoint = \"ftp://x\"\n",
            "delivery_endpoint",
        ),
    ];
    for (name, text, field) in semantic {
        let path = write(name, text);
        let e = Config::load(Some(&path), no_env()).unwrap_err();
        match &e {
            ConfigError::Invalid { field: f, .. } => assert!(f.contains(field), "{name}: {e}"),
            other => panic!("{name}: {other}"),
        }
        std::fs::remove_file(path).unwrap();
    }

    let missing = std::env::temp_dir().join("hubgate-config-does-not-exist.toml");
    assert!(matches!(
        Config::load(Some(&missing), no_env()),
        Err(ConfigError::Read { .. })
    ));

    let e = Config::load(
        None,
        vec![("HUBGATE_USERS__bob__SUSPENDED".to_string(), "1".to_string())].into_iter(),
    )
    .unwrap_err();
    assert!(
        e.to_string().starts_with("HUBGATE_USERS__bob__SUSPENDED"),
        "{e}"
    );
}
