use pretty_assertions::assert_eq;

use super::*;
use crate::profile::llxprt::is_missing_dir;

// ---- resolve: members, nesting, cycles ----

#[test]
fn resolve_missing_member_names_lb_and_member() {
    let f = Fixture::new();
    f.model("a");
    f.lb("pool", &["a", "ghost"]);
    let msg = f
        .store
        .resolve("pool")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_contains(
        &msg,
        &[
            "pool.json",
            "load balancer 'pool'",
            "'ghost'",
            "no ghost.json",
            "available: a, pool",
        ],
    );
}

#[test]
fn resolve_detects_cycles_through_nested_lbs() {
    let f = Fixture::new();
    f.model("leaf");
    f.lb("top", &["leaf", "a"]);
    f.lb("a", &["b"]);
    f.lb("b", &["leaf", "a"]);
    let msg = f
        .store
        .resolve("top")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        msg,
        format!("profile cycle in {}: a -> b -> a", f.store.dir().display())
    );
    let Err(ProfileError::Cycle { chain, .. }) = f.store.resolve("b") else {
        panic!("no cycle");
    };
    assert_eq!(chain, vec!["b", "a", "b"]);
}

#[test]
fn resolve_allows_shared_members_and_nesting() {
    let f = Fixture::new();
    f.model("x");
    f.model("y");
    f.lb("left", &["x", "y"]);
    f.lb("right", &["y"]);
    f.lb("top", &["left", "right"]);
    let resolved = f.store.resolve("top").unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = resolved.backends().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec!["x", "y", "y"]);
}

// ---- save, load, list, delete ----

#[test]
fn round_trip_model_and_lb() {
    let f = Fixture::new();
    let mut m = ModelProfile::new("openai", "gpt-4o");
    m.model_params.insert("temperature".into(), json!(0.7));
    m.pool_name = Some("gpt".into());
    assert!(
        m.settings
            .set("base-url", "https://api.openai.com/v1")
            .is_ok()
    );
    assert!(m.settings.set("auth-keyfile", "~/.keys/openai").is_ok());
    assert!(m.settings.set("context-limit", "128000").is_ok());
    let model = Profile::Model(m);
    f.store
        .save("gpt", &model)
        .unwrap_or_else(|e| panic!("{e}"));
    let loaded = f.store.load("gpt").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.profile, model);
    assert_eq!(loaded.name, "gpt");
    assert_eq!(loaded.path, f.store.dir().join("gpt.json"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);

    let mut lb = LbProfile::new(Policy::RoundRobin, vec!["gpt".into()]);
    for (k, v) in [
        ("tpm_threshold", "1000"),
        ("timeout_ms", "30000"),
        ("circuit_breaker_enabled", "true"),
        ("circuit_breaker_failure_threshold", "5"),
    ] {
        assert!(lb.settings.set(k, v).is_ok());
    }
    let lb = Profile::LoadBalancer(lb);
    f.store.save("lb", &lb).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.store.load("lb").map(|l| l.profile).ok(), Some(lb));
}

#[test]
fn to_json_lb_format_is_llxprts() {
    let mut lb = LbProfile::new(Policy::Failover, vec!["synthetic".into(), "chutes".into()]);
    assert!(lb.settings.set("timeout_ms", "30000").is_ok());
    assert!(lb.settings.set("tpm_threshold", "1000").is_ok());
    let text = to_json(&Profile::LoadBalancer(lb));
    assert_eq!(
        text,
        r#"{
  "version": 1,
  "type": "loadbalancer",
  "policy": "failover",
  "profiles": [
    "synthetic",
    "chutes"
  ],
  "provider": "",
  "model": "",
  "modelParams": {},
  "ephemeralSettings": {
    "timeout_ms": 30000,
    "tpm_threshold": 1000
  }
}
"#
    );
}

#[test]
fn raw_auth_key_loads_with_warning_and_is_never_saved() {
    let f = Fixture::new();
    f.write(
        "leaky",
        r#"{"version":1,"provider":"openai","model":"gpt-4o",
            "ephemeralSettings":{"auth-key":"sk-SECRET","base-url":"https://h/v1",
              "custom-headers":{"Authorization":"Bearer sk-HDR","X-Team":"t"}}}"#,
    );
    let loaded = f.store.load("leaky").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        loaded.warnings[0],
        "profile leaky holds a raw auth-key; move it to auth-keyfile or auth-key-env — baton will not save it back"
    );
    assert_contains(&loaded.warnings[1], &["custom-headers.Authorization"]);
    // Kept in memory for use.
    assert_eq!(
        loaded.profile.settings().get_str("auth-key"),
        Some("sk-SECRET")
    );
    let text = to_json(&loaded.profile);
    assert!(
        !text.contains("SECRET") && !text.contains("sk-HDR"),
        "{text}"
    );
    f.store
        .save("leaky", &loaded.profile)
        .unwrap_or_else(|e| panic!("{e}"));
    let on_disk = fs::read_to_string(&loaded.path).unwrap_or_default();
    assert!(!on_disk.contains("auth-key\""), "{on_disk}");
    assert!(
        !on_disk.contains("SECRET") && !on_disk.contains("Authorization"),
        "{on_disk}"
    );
    assert_contains(&on_disk, &["\"X-Team\": \"t\"", "https://h/v1"]);
    assert!(
        f.store
            .load("leaky")
            .map(|l| l.warnings.is_empty())
            .unwrap_or(false)
    );
}

#[test]
fn save_is_atomic_and_leaves_no_temp_files() {
    let f = Fixture::new();
    f.model("a");
    f.model("a");
    f.model("b");
    assert_eq!(f.files(), vec!["a.json", "b.json"]);
    // A save that cannot be loaded back is refused before the disk is touched.
    let before = fs::read_to_string(f.store.dir().join("a.json")).unwrap_or_default();
    let bad = Profile::LoadBalancer(LbProfile::new(Policy::Failover, vec!["a".into()]));
    let msg = f
        .store
        .save("a", &bad)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_contains(&msg, &["lists itself"]);
    let empty = Profile::LoadBalancer(LbProfile::new(Policy::Failover, vec![]));
    assert!(f.store.save("a", &empty).is_err());
    assert_eq!(
        fs::read_to_string(f.store.dir().join("a.json")).unwrap_or_default(),
        before
    );
    assert_eq!(f.files(), vec!["a.json", "b.json"]);
}

#[test]
fn list_is_sorted_and_skips_other_files() {
    let f = Fixture::new();
    assert_eq!(f.store.list().ok(), Some(Vec::<String>::new()));
    for n in ["zeta", "Alpha", "beta", "b-2"] {
        f.model(n);
    }
    f.write(".hidden", "{}");
    fs::write(f.store.dir().join("notes.txt"), "x").unwrap_or_else(|e| panic!("{e}"));
    fs::write(f.store.dir().join(".a.json.tmp-1-2"), "x").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        f.store.list().ok(),
        Some(vec![
            "Alpha".into(),
            "b-2".into(),
            "beta".into(),
            "zeta".into()
        ])
    );
    assert!(f.store.exists("beta"));
    assert!(!f.store.exists("gamma"));
}

#[test]
fn delete_refuses_members_of_lbs() {
    let f = Fixture::new();
    f.model("a");
    f.model("b");
    f.lb("pool", &["a", "b"]);
    f.lb("other", &["a"]);
    // A broken LB still protects its members.
    f.write(
        "broken",
        r#"{"type":"loadbalancer","policy":"nope","profiles":["b"]}"#,
    );
    assert_eq!(
        f.store.users_of("a").ok(),
        Some(vec!["other".into(), "pool".into()])
    );
    let msg = f
        .store
        .delete("a")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        msg,
        "profile 'a' is used by load balancers 'other', 'pool'; remove it from them first"
    );
    let msg = f
        .store
        .delete("b")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        msg,
        "profile 'b' is used by load balancers 'broken', 'pool'; remove it from them first"
    );
    assert!(f.store.exists("a"));
    assert!(f.store.delete("other").is_ok());
    assert!(f.store.delete("pool").is_ok());
    let msg = f.store.delete("a").err();
    assert!(msg.is_none(), "{msg:?}");
    assert!(!f.store.exists("a"));
    let msg = f
        .store
        .delete("a")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_contains(&msg, &["profile 'a' not found"]);
}

#[test]
fn validate_all_reports_each_profile() {
    let f = Fixture::new();
    f.model("good");
    f.lb("dangling", &["good", "ghost"]);
    f.write("bad", r#"{"version":3}"#);
    let results = f.store.validate_all();
    let summary: Vec<(String, bool)> = results
        .iter()
        .map(|(n, r)| (n.clone(), r.is_ok()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("bad".into(), false),
            ("dangling".into(), false),
            ("good".into(), true)
        ]
    );
}

// ---- import ----

#[test]
fn import_llxprt_copies_checks_and_strips() {
    let f = Fixture::new();
    let src = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let put = |name: &str, text: &str| {
        fs::write(src.path().join(name), text).unwrap_or_else(|e| panic!("{e}"));
    };
    put("synthetic.json", LLXPRT_SYNTHETIC);
    put("testlb489.json", TESTLB489);
    put(
        "keyed.json",
        r#"{"version":1,"provider":"anthropic","model":"claude","ephemeralSettings":{"auth-key":"sk-x"}}"#,
    );
    put("broken.json", "{ nope");
    put("readme.md", "not a profile");
    put("existing.json", LLXPRT_SYNTHETIC);
    f.model("existing");
    let before = fs::read_to_string(f.store.dir().join("existing.json")).unwrap_or_default();

    let report = import_llxprt(src.path(), &f.store).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.imported, vec!["keyed", "synthetic", "testlb489"]);
    assert_eq!(report.skipped_existing, vec!["existing"]);
    assert_eq!(
        report.stripped,
        vec![("keyed".to_string(), vec!["auth-key".to_string()])]
    );
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, "broken");
    assert_contains(&report.failed[0].1, &["broken.json:1:3"]);
    assert_eq!(
        fs::read_to_string(f.store.dir().join("existing.json")).unwrap_or_default(),
        before
    );
    let keyed = fs::read_to_string(f.store.dir().join("keyed.json")).unwrap_or_default();
    assert!(!keyed.contains("sk-x"), "{keyed}");
    let lb = f.store.load("testlb489").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lb.profile.settings().len(), 8);

    let missing = import_llxprt(&src.path().join("nope"), &f.store);
    assert!(missing.as_ref().is_err_and(is_missing_dir), "{missing:?}");
}

#[test]
fn settings_from_profile_merge_with_session() {
    // The session layer: profile settings, then `/set` on top.
    let (profile, _) = parse_ok("testlb489", TESTLB489);
    let mut session = Settings::new();
    assert!(session.set("timeout_ms", "5000").is_ok());
    let merged = profile.settings().merged_with(&session);
    assert_eq!(
        LbSettings::from_settings(&merged).timeout,
        Duration::from_secs(5)
    );
    assert_eq!(LbSettings::from_settings(&merged).tpm_threshold, Some(500));
}

// ---- pools: pool key = poolName ?? name ----

fn pooled(f: &Fixture, name: &str, pool: Option<&str>) {
    let pool_field = pool
        .map(|p| format!(r#","poolName":"{p}""#))
        .unwrap_or_default();
    f.write(
        name,
        &format!(r#"{{"version":1,"provider":"sim","model":"sim-fast"{pool_field}}}"#),
    );
}

fn pool_members(resolved: &Resolved) -> (String, String, Vec<String>) {
    match resolved {
        Resolved::Pool {
            key,
            pinned,
            members,
        } => (
            key.clone(),
            pinned.clone(),
            members.iter().map(|(n, _)| n.clone()).collect(),
        ),
        other => panic!("expected a pool, got {other:?}"),
    }
}

#[test]
fn profiles_sharing_a_pool_name_resolve_to_the_whole_pool() {
    let f = Fixture::new();
    pooled(&f, "qwen-prod-1", Some("qwen-pool"));
    pooled(&f, "qwen-prod-2", Some("qwen-pool"));
    pooled(&f, "qwen-prod-3", Some("qwen-pool"));
    pooled(&f, "other", Some("elsewhere"));
    let (key, pinned, members) = pool_members(&f.store.resolve("qwen-prod-2").unwrap());
    assert_eq!(key, "qwen-pool");
    assert_eq!(pinned, "qwen-prod-2");
    assert_eq!(members, vec!["qwen-prod-1", "qwen-prod-2", "qwen-prod-3"]);
}

#[test]
fn a_solo_profile_is_a_pool_of_one_and_stays_a_plain_model() {
    let f = Fixture::new();
    pooled(&f, "gpt-4o", None);
    pooled(&f, "unrelated", None);
    assert!(matches!(
        f.store.resolve("gpt-4o").unwrap(),
        Resolved::Model { .. }
    ));
}

#[test]
fn a_solo_profile_named_like_a_pool_joins_it() {
    let f = Fixture::new();
    pooled(&f, "qwen-pool", None);
    pooled(&f, "qwen-prod-2", Some("qwen-pool"));
    let (_, _, from_solo) = pool_members(&f.store.resolve("qwen-pool").unwrap());
    let (_, _, from_member) = pool_members(&f.store.resolve("qwen-prod-2").unwrap());
    assert_eq!(from_solo, vec!["qwen-pool", "qwen-prod-2"]);
    assert_eq!(from_member, from_solo);
}

#[test]
fn an_explicit_pool_name_wins_over_the_profile_s_own_name() {
    let f = Fixture::new();
    pooled(&f, "foo", Some("bar"));
    pooled(&f, "baz", None);
    // `foo` is in pool `bar`, not pool `foo`: naming `baz` does not pull it in.
    assert!(matches!(
        f.store.resolve("baz").unwrap(),
        Resolved::Model { .. }
    ));
    pooled(&f, "bar-2", Some("bar"));
    let (key, _, members) = pool_members(&f.store.resolve("foo").unwrap());
    assert_eq!(key, "bar");
    assert_eq!(members, vec!["bar-2", "foo"]);
}

#[test]
fn an_lb_member_in_a_pool_brings_the_pool_into_the_lb() {
    let f = Fixture::new();
    pooled(&f, "p1", Some("pool"));
    pooled(&f, "p2", Some("pool"));
    f.model("solo");
    f.lb("lb", &["solo", "p1"]);
    let Resolved::LoadBalancer { members, .. } = f.store.resolve("lb").unwrap() else {
        panic!("not an LB");
    };
    assert!(matches!(members[0], Resolved::Model { .. }));
    assert_eq!(pool_members(&members[1]).2, vec!["p1", "p2"]);
}
