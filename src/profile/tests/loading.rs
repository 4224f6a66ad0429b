use pretty_assertions::assert_eq;

use super::*;

// ---- llxprt-code's own files ----

#[test]
fn llxprt_testlb489_loads_as_written() {
    for text in [TESTLB489, TESTLB489_SCRIPT] {
        let (profile, warnings) = parse_ok("testlb489", text);
        assert_eq!(warnings, Vec::<String>::new());
        let Profile::LoadBalancer(lb) = profile else {
            panic!("not a load balancer");
        };
        assert_eq!(lb.policy, Policy::Failover);
        assert_eq!(lb.profiles, vec!["synthetic", "chutes", "groqgpt"]);
        assert_eq!(lb.settings.len(), 8);
        let s = LbSettings::from_settings(&lb.settings);
        assert_eq!(s.tpm_threshold, Some(500));
        assert_eq!(s.timeout, Duration::from_secs(30));
        assert_eq!(s.retry_count, 2);
        assert_eq!(s.retry_delay, Duration::from_secs(1));
        assert_eq!(s.breaker.failure_threshold, 3);
        assert_eq!(s.breaker.failure_window, Duration::from_secs(60));
        assert_eq!(s.breaker.recovery_timeout, Duration::from_secs(30));
    }
}

#[test]
fn llxprt_testlb489_resolves_with_members() {
    let f = Fixture::new();
    f.write("testlb489", TESTLB489);
    for m in ["synthetic", "chutes", "groqgpt"] {
        f.model(m);
    }
    let resolved = f
        .store
        .resolve("testlb489")
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = resolved.backends().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec!["synthetic", "chutes", "groqgpt"]);
}

#[test]
fn llxprt_model_profile_loads() {
    let (profile, warnings) = parse_ok("synthetic", LLXPRT_SYNTHETIC);
    assert_eq!(warnings, Vec::<String>::new());
    let Profile::Model(m) = profile else {
        panic!("not a model profile");
    };
    assert_eq!(m.provider, "openai");
    assert_eq!(m.model, "hf:zai-org/GLM-4.6");
    assert_eq!(m.model_params.get("temperature"), Some(&json!(1)));
    assert_eq!(m.settings.get_str("streaming"), Some("disabled"));
    assert_eq!(m.settings.get_u64("context-limit"), Some(190_000));
}

#[test]
fn unknown_fields_and_settings_are_warnings() {
    let (profile, warnings) = parse_ok(
        "x",
        r#"{"provider":"openai","model":"m","auth":{"type":"oauth"},
            "ephemeralSettings":{"reasoning.enabled":true,"base-url":"http://h"}}"#,
    );
    assert!(matches!(profile, Profile::Model(_)));
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_contains(&warnings[0], &["`auth`", "ignored"]);
    assert_contains(&warnings[1], &["'reasoning.enabled'", "kept"]);
    // Unknown settings survive a save.
    assert_contains(&to_json(&profile), &["\"reasoning.enabled\": true"]);
}

#[test]
fn other_warnings() {
    let (_, w) = parse_ok("real", r#"{"name":"other","provider":"acme","model":"m"}"#);
    assert_eq!(w.len(), 2, "{w:?}");
    assert_contains(&w[0], &["'other'", "real.json"]);
    assert_contains(
        &w[1],
        &[
            "provider 'acme'",
            "openai, groq, openrouter, azure, anthropic",
        ],
    );
    let (p, w) = parse_ok(
        "lb",
        r#"{"type":"loadbalancer","policy":"random","profiles":["a","b","a"],"provider":"openai"}"#,
    );
    assert_eq!(w.len(), 2, "{w:?}");
    assert_contains(&w[0], &["'a' twice"]);
    assert_contains(&w[1], &["`provider` ignored"]);
    let Profile::LoadBalancer(lb) = p else {
        panic!("not an LB");
    };
    assert_eq!(lb.profiles, vec!["a", "b"]);
}

// ---- errors: each names the file, the field, the value and what is allowed ----

#[test]
fn error_bad_json_has_line_and_column() {
    let msg = parse_err("x", "{\n  \"version\": 1\n  \"provider\": \"x\"\n}");
    assert!(
        msg.starts_with("/p/x.json:3:3: expected `,` or `}`"),
        "{msg}"
    );
    let msg = parse_err("x", "");
    assert!(msg.starts_with("/p/x.json:1:0: EOF"), "{msg}");
}

#[test]
fn error_top_level_not_object() {
    let msg = parse_err("x", "[1]");
    assert_contains(&msg, &["/p/x.json", "(top level)", "a JSON object", "[1]"]);
}

#[test]
fn error_version() {
    let msg = parse_err("x", r#"{"version":2,"provider":"openai","model":"m"}"#);
    assert_eq!(msg, "/p/x.json: `version` must be 1 (got 2)");
    let msg = parse_err("x", r#"{"version":"1","provider":"openai","model":"m"}"#);
    assert_eq!(msg, "/p/x.json: `version` must be 1 (got \"1\")");
    // 1.0 is 1.
    parse_ok("x", r#"{"version":1.0,"provider":"openai","model":"m"}"#);
}

#[test]
fn error_type() {
    let msg = parse_err("x", r#"{"type":"pool","provider":"openai","model":"m"}"#);
    assert_contains(
        &msg,
        &["/p/x.json", "`type`", "\"loadbalancer\"", "(got \"pool\")"],
    );
}

#[test]
fn error_policy() {
    let msg = parse_err(
        "x",
        r#"{"type":"loadbalancer","policy":"fastest","profiles":["a"]}"#,
    );
    assert_eq!(
        msg,
        "/p/x.json: `policy` must be one of failover, roundrobin, random (got \"fastest\")"
    );
    let msg = parse_err("x", r#"{"type":"loadbalancer","profiles":["a"]}"#);
    assert_contains(
        &msg,
        &[
            "/p/x.json",
            "`policy` is required",
            "failover, roundrobin, random",
        ],
    );
}

#[test]
fn error_members() {
    let msg = parse_err(
        "x",
        r#"{"type":"loadbalancer","policy":"failover","profiles":[]}"#,
    );
    assert_contains(&msg, &["/p/x.json", "`profiles`", "at least one", "empty"]);
    let msg = parse_err("x", r#"{"type":"loadbalancer","policy":"failover"}"#);
    assert_contains(&msg, &["/p/x.json", "`profiles` is required"]);
    let msg = parse_err(
        "x",
        r#"{"type":"loadbalancer","policy":"failover","profiles":"a"}"#,
    );
    assert_contains(
        &msg,
        &["`profiles` must be a list of profile names (got \"a\")"],
    );
    let msg = parse_err(
        "x",
        r#"{"type":"loadbalancer","policy":"failover","profiles":["a","../b"]}"#,
    );
    assert_contains(&msg, &["/p/x.json", "`profiles[1]`", "no '/'", "\"../b\""]);
    let msg = parse_err(
        "x",
        r#"{"type":"loadbalancer","policy":"failover","profiles":["a","x"]}"#,
    );
    assert_eq!(
        msg,
        "/p/x.json: load balancer 'x' lists itself in `profiles`"
    );
}

#[test]
fn error_model_fields() {
    let msg = parse_err("x", r#"{"model":"m"}"#);
    assert_contains(&msg, &["/p/x.json", "`provider` is required", "\"openai\""]);
    let msg = parse_err("x", r#"{"provider":"openai","model":""}"#);
    assert_contains(&msg, &["/p/x.json", "`model` is required"]);
    let msg = parse_err("x", r#"{"provider":7,"model":"m"}"#);
    assert_contains(&msg, &["`provider` must be text (got 7)"]);
    // An LB file that forgot its type gets a hint.
    let msg = parse_err("x", r#"{"policy":"failover","profiles":["a","b"]}"#);
    assert_contains(
        &msg,
        &["`provider` is required", "\"type\": \"loadbalancer\""],
    );
}

#[test]
fn error_wrong_value_types() {
    let msg = parse_err(
        "x",
        r#"{"provider":"openai","model":"m","ephemeralSettings":{"timeout_ms":"30000"}}"#,
    );
    assert_eq!(
        msg,
        "/p/x.json: `ephemeralSettings.timeout_ms`: timeout_ms must be a positive integer (got \"30000\")"
    );
    let msg = parse_err(
        "x",
        r#"{"type":"loadbalancer","policy":"failover","profiles":["a"],
            "ephemeralSettings":{"circuit_breaker_enabled":"maybe"}}"#,
    );
    assert_contains(
        &msg,
        &[
            "/p/x.json",
            "circuit_breaker_enabled",
            "true or false",
            "\"maybe\"",
        ],
    );
    let msg = parse_err(
        "x",
        r#"{"provider":"openai","model":"m","modelParams":{"temperature":"hot"}}"#,
    );
    assert_eq!(
        msg,
        "/p/x.json: `modelParams.temperature` must be a number from 0 to 2 (got \"hot\")"
    );
    let msg = parse_err(
        "x",
        r#"{"provider":"openai","model":"m","modelParams":{"max_tokens":0}}"#,
    );
    assert_contains(
        &msg,
        &["`modelParams.max_tokens` must be a positive integer (got 0)"],
    );
    let msg = parse_err("x", r#"{"provider":"openai","model":"m","modelParams":[]}"#);
    assert_contains(&msg, &["`modelParams` must be a JSON object"]);
    let msg = parse_err(
        "x",
        r#"{"provider":"openai","model":"m","ephemeralSettings":5}"#,
    );
    assert_contains(
        &msg,
        &["`ephemeralSettings` must be a JSON object", "(got 5)"],
    );
    let msg = parse_err("x", r#"{"provider":"openai","model":"m","poolName":3}"#);
    assert_contains(&msg, &["`poolName`", "(got 3)"]);
}

#[test]
fn error_not_found_lists_available() {
    let f = Fixture::new();
    let msg = f.load_err("ghost");
    assert_eq!(
        msg,
        format!(
            "profile 'ghost' not found: no profiles yet in {}",
            f.store.dir().display()
        )
    );
    f.model("b");
    f.model("a");
    let msg = f.load_err("ghost");
    assert_eq!(
        msg,
        format!(
            "profile 'ghost' not found in {}; available: a, b",
            f.store.dir().display()
        )
    );
}

#[test]
fn error_invalid_names() {
    let f = Fixture::new();
    let p = Profile::Model(ModelProfile::new("sim", "m"));
    for (name, reason) in [
        ("", "empty"),
        ("a/b", "'/'"),
        ("a\\b", "'\\'"),
        (".hidden", "start with '.'"),
    ] {
        let msg = f
            .store
            .save(name, &p)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_contains(
            &msg,
            &["invalid profile name", &format!("'{name}'"), reason],
        );
        assert!(f.store.load(name).is_err());
        assert!(!f.store.exists(name));
    }
}

#[test]
fn error_io_names_the_path() {
    let f = Fixture::new();
    // A folder where the file should be.
    let path = f.store.dir().join("weird.json");
    fs::create_dir_all(&path).unwrap_or_else(|e| panic!("{e}"));
    let msg = f.load_err("weird");
    assert_contains(&msg, &["cannot read", &path.display().to_string()]);
    // The profiles "folder" is a file.
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = tmp.path().join("notadir");
    fs::write(&file, "x").unwrap_or_else(|e| panic!("{e}"));
    let store = ProfileStore::new(file.clone());
    let msg = store
        .list()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_contains(&msg, &["cannot list", &file.display().to_string()]);
    let msg = store
        .save("a", &Profile::Model(ModelProfile::new("sim", "m")))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_contains(&msg, &[&file.display().to_string()]);
}
