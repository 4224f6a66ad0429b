//! One conversation per session file; resumes that never change profile silently.

use std::process::Stdio;

use super::{Home, text};

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn item3_two_hundred_parallel_one_shots_write_two_hundred_files() {
    let _heavy = super::heavy();
    let home = Home::new();
    // Warm the home so the children do not race to create the demo profiles.
    let out = home.run(&["--provider", "sim", "--prompt", "warm"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::remove_dir_all(home.sessions()).unwrap();
    const N: usize = 200;
    // Real child processes, all in flight at once, in waves so 2 cores cope.
    let mut done = 0;
    for wave in 0..4 {
        let children: Vec<_> = (0..N / 4)
            .map(|i| {
                home.baton()
                    .args(["--provider", "sim", "--prompt"])
                    .arg(format!("prompt-{wave}-{i}"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            done += 1;
        }
    }
    assert_eq!(done, N);
    let files = home.session_files();
    assert_eq!(files.len(), N, "one file per run");
    let mut prompts = std::collections::HashSet::new();
    for file in &files {
        let records = lines(file);
        let id = file.file_stem().unwrap().to_str().unwrap();
        assert!(records.iter().all(|r| r["session"] == id), "{id}");
        let users: Vec<_> = records.iter().filter(|r| r["kind"] == "user").collect();
        let starts = records.iter().filter(|r| r["kind"] == "session_started");
        assert_eq!(users.len(), 1, "one conversation in {id}");
        assert_eq!(starts.count(), 1, "{id}");
        prompts.insert(users[0]["content"].as_str().unwrap().to_string());
        // Time-ordered, then 64 random bits.
        let random = id.rsplit('-').next().unwrap();
        assert_eq!(random.len(), 16, "{id}");
    }
    assert_eq!(prompts.len(), N);
}

fn write_damaged(home: &Home, id: &str, first_line: &str) {
    std::fs::create_dir_all(home.sessions()).unwrap();
    let answer = serde_json::json!({
        "v": 1, "ts": "2025-01-01T00:00:01.000Z", "session": id, "kind": "answer",
        "content": "earlier answer",
        "provenance": {"backend": "x", "provider": "sim", "model": "sim-fast", "attempts": 1,
            "failovers": 0, "latency_ms": 1, "first_chunk_ms": 1,
            "usage": {"input_tokens": 1, "output_tokens": 1}}
    });
    let user = serde_json::json!({
        "v": 1, "ts": "2025-01-01T00:00:00.000Z", "session": id, "kind": "user",
        "content": "earlier question"
    });
    let text = format!("{first_line}{user}\n{answer}\n");
    std::fs::write(home.sessions().join(format!("{id}.jsonl")), text).unwrap();
}

#[test]
fn item4_a_damaged_header_fails_clearly_or_resumes_on_the_named_profile_with_a_warning() {
    let home = Home::new();
    write_damaged(
        &home,
        "damaged",
        "{\"v\":1,\"ts\":\"2025-01-01T00:00:00.000Z\",\"ses\n",
    );
    let out = home.run(&["--prompt", "next", "--resume", "damaged"]);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "never the demo profile silently: {stderr}"
    );
    assert!(
        stderr.contains("cannot resume session 'damaged'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("first line (the session header) is damaged"),
        "{stderr}"
    );
    assert!(stderr.contains("--profile-load"), "{stderr}");
    assert!(out.stdout.is_empty(), "no simulated answer");

    let out = home.run(&[
        "--prompt",
        "next",
        "--resume",
        "damaged",
        "--provider",
        "sim",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("session damaged: its first line (the session header) is damaged; resuming on provider sim, as asked"),
        "{stderr}"
    );

    // An empty file: the same rule, with what was lost named.
    std::fs::write(home.sessions().join("empty.jsonl"), "").unwrap();
    let out = home.run(&["--prompt", "next", "--resume", "empty"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the file is empty"), "{stderr}");
}

#[test]
fn item4_entries_that_are_not_session_files_are_skipped_by_name() {
    let home = Home::new();
    let out = home.run(&["--prompt", "kept"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::create_dir_all(home.sessions().join("x.jsonl")).unwrap();
    let out = home.run(&["sessions", "list"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("x.jsonl: a folder, not a session file"),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains("kept"), "{}", text(&out.stdout));
    let out = home.run(&["--prompt", "more", "--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
