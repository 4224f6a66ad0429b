//! `baton serve` end to end: the real binary on a free port over real TCP, in front
//! of the mock server, spoken to as an OpenAI-compatible client would.

#![cfg(feature = "serve")]
// Test scaffolding: a failure to set up should panic loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton_mock::{Answer, Behavior};
use baton_test_support::home::{TempHome as Home, text};
use baton_test_support::mock::{Mock, refused_url};
use baton_test_support::profile;
use serde_json::{Value, json};

/// A running `baton serve`, stopped on drop.
struct Serve {
    child: Child,
    base: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    fn start(home: &Home, args: &[&str]) -> Self {
        let mut cmd = StdCommand::new(env!("CARGO_BIN_EXE_baton"));
        for var in [
            "OPENAI_API_KEY",
            "BATON_DEBUG",
            "ANTHROPIC_API_KEY",
            "GEMINI_API_KEY",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("BATON_HOME", home.path())
            .env("BATON_SIM_SEED", "1")
            .arg("serve")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if !args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        let mut child = cmd.spawn().expect("spawn baton serve");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("baton serve listening on ") {
                    let _ = tx.send(rest.trim_end_matches("/v1").to_string());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no listening line: {:?}", lines.lock().unwrap()));
        Self {
            child,
            base,
            stderr: lines,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    fn post(&self, key: Option<&str>, body: &Value) -> Reply {
        request(
            "POST",
            &self.url("/v1/chat/completions"),
            key,
            Some(body.to_string()),
        )
    }

    fn get(&self, path: &str, key: Option<&str>) -> Reply {
        request("GET", &self.url(path), key, None)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The `data:` payloads of an SSE body.
    fn frames(&self) -> Vec<String> {
        self.body
            .split("\n\n")
            .filter_map(|f| f.strip_prefix("data: "))
            .map(str::to_string)
            .collect()
    }
}

fn request(method: &str, url: &str, key: Option<&str>, body: Option<String>) -> Reply {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = baton::provider::http_client().unwrap();
        let mut req = match method {
            "POST" => client.post(url),
            _ => client.get(url),
        };
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        let resp = req.send().await.expect("request");
        Reply {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.text().await.expect("body"),
        }
    })
}

fn chat(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "stream_options": {"include_usage": true},
        "temperature": 0.3,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    })
}

/// A load balancer `lb` over model profiles pointing at the mock's backends.
fn lb_home(mock: &Mock, members: &[&str]) -> Home {
    let home = Home::new();
    for m in members {
        home.openai_profile(m, &mock.base_url(m));
    }
    home.write(
        "lb",
        profile::failover(members)
            .set("failover_retry_count", 1)
            .set("failover_retry_delay_ms", 10),
    );
    home
}

#[test]
fn answers_whole_and_streamed_with_usage_and_done() {
    let mock = Mock::with(&[("a", Behavior::answer("Relays of tokens."))]);
    let home = Home::new();
    home.openai_profile("work", &mock.base_url("a"));
    let serve = Serve::start(&home, &["--log-format", "json"]);

    let whole = serve.post(None, &chat("work", false));
    assert_eq!(whole.status, 200, "{}", whole.body);
    let v = whole.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "work");
    assert_eq!(v["choices"][0]["message"]["content"], "Relays of tokens.");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["usage"]["total_tokens"].as_u64().unwrap() > 0);
    assert_eq!(whole.headers["x-baton-backend"], "work");
    let sent = &mock.server.recorded("a")[0].body;
    assert_eq!(sent["temperature"], 0.3, "params reach the backend: {sent}");
    assert_eq!(sent["messages"][0]["role"], "system");

    let streamed = serve.post(None, &chat("work", true));
    assert_eq!(streamed.status, 200, "{}", streamed.body);
    assert_eq!(streamed.headers["content-type"], "text/event-stream");
    let frames = streamed.frames();
    assert_eq!(frames.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    let answer: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(answer, "Relays of tokens.");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["completion_tokens"].as_u64().unwrap() > 0);

    let logs = serve.stderr();
    let line = logs
        .iter()
        .rev()
        .find(|l| l.starts_with('{'))
        .expect("a JSON log line");
    let log: Value = serde_json::from_str(line).unwrap();
    assert_eq!(log["profile"], "work");
    assert_eq!(log["backend"], "work");
    assert_eq!(log["status"], 200);
    assert_eq!(log["attempts"], 1);
}

#[test]
fn models_healthz_and_metrics() {
    let mock = Mock::with(&[("a", Behavior::answer("ok")), ("b", Behavior::status(503))]);
    let home = lb_home(&mock, &["b", "a"]);
    let serve = Serve::start(&home, &[]);
    let models = serve.get("/v1/models", None).json();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(ids.contains(&"lb") && ids.contains(&"a"), "{ids:?}");
    assert_eq!(models["object"], "list");
    assert_eq!(serve.post(None, &chat("lb", false)).status, 200);
    let health = serve.get("/healthz", None);
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    assert_eq!(health.json()["profiles"]["lb"]["a"], "closed");
    let metrics = serve.get("/metrics", None);
    assert_eq!(metrics.status, 200);
    for line in [
        "baton_serve_requests_total{profile=\"lb\",status=\"200\"} 1",
        "baton_serve_failovers_total{profile=\"lb\"} 1",
        r#"baton_backend_attempt_failures_total{profile="lb",backend="b",class="transient"} 1"#,
        "baton_backend_request_duration_seconds_count{profile=\"lb\",backend=\"a\"} 1",
        "baton_backend_breaker_state{profile=\"lb\",backend=\"a\",state=\"closed\"} 1",
        "# TYPE baton_backend_first_chunk_seconds histogram",
        "baton_backend_tpm{profile=\"lb\",backend=\"a\"}",
    ] {
        assert!(
            metrics.body.contains(line),
            "{line} not in\n{}",
            metrics.body
        );
    }
    assert!(
        home.path().join("state/lb.json").exists(),
        "LB health persists"
    );
}

#[test]
fn client_keys_are_checked() {
    let mock = Mock::with(&[("a", Behavior::answer("ok"))]);
    let home = Home::new();
    home.openai_profile("work", &mock.base_url("a"));
    let out = home
        .baton()
        .args(["serve", "keys", "add", "ci"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let key = text(&out.stdout).trim().to_string();
    let stored = std::fs::read_to_string(home.path().join("serve.keys")).unwrap();
    assert!(stored.starts_with("ci:") && !stored.contains(&key));
    let serve = Serve::start(&home, &[]);
    let missing = serve.post(None, &chat("work", false));
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["error"]["code"], "invalid_api_key");
    assert_eq!(
        serve.post(Some("bk-wrong"), &chat("work", false)).status,
        401
    );
    assert_eq!(serve.get("/v1/models", Some("nope")).status, 401);
    assert_eq!(serve.post(Some(&key), &chat("work", false)).status, 200);
    assert_eq!(
        serve.get("/healthz", None).status,
        200,
        "health needs no key"
    );
    assert!(
        serve.stderr().iter().all(|l| !l.contains(&key)),
        "keys are never logged"
    );
}

#[test]
fn without_keys_it_says_it_is_loopback_only() {
    let home = Home::new();
    let serve = Serve::start(&home, &["--listen", "0.0.0.0:0"]);
    assert!(
        serve.base.starts_with("http://127.0.0.1:"),
        "{}",
        serve.base
    );
    assert!(serve.stderr().iter().any(|l| l.contains("loopback only")));
    let demo = serve.post(None, &chat("demo", false));
    assert_eq!(
        demo.status, 200,
        "the built-in demo profile serves: {}",
        demo.body
    );
}

#[test]
fn unknown_models_are_404_in_openai_shape() {
    let home = Home::new();
    home.openai_profile("work", &refused_url());
    let serve = Serve::start(&home, &[]);
    let reply = serve.post(None, &chat("gpt-nope", false));
    assert_eq!(reply.status, 404);
    let err = &reply.json()["error"];
    assert_eq!(err["code"], "model_not_found");
    assert_eq!(err["type"], "invalid_request_error");
    assert_eq!(err["param"], "model");
    let lb_override = serve.post(None, &chat("demo/other", false));
    assert_eq!(lb_override.status, 400, "{}", lb_override.body);
}

#[test]
fn every_backend_down_is_503_with_retry_after() {
    let mock = Mock::with(&[("a", Behavior::status(503)), ("b", Behavior::status(502))]);
    let home = lb_home(&mock, &["a", "b"]);
    let serve = Serve::start(&home, &[]);
    for stream in [false, true] {
        let reply = serve.post(None, &chat("lb", stream));
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert!(reply.headers.contains_key("retry-after"));
        assert_eq!(reply.json()["error"]["code"], "backends_unavailable");
    }
    let mock = Mock::with(&[("a", Behavior::status(422))]);
    let home = Home::new();
    home.openai_profile("work", &mock.base_url("a"));
    let serve = Serve::start(&home, &[]);
    let reply = serve.post(None, &chat("work", false));
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.json()["error"]["type"], "invalid_request_error");
}

#[test]
fn a_cut_stream_ends_with_an_in_band_error_not_done() {
    let cut = Behavior::Cut {
        after_chunks: 2,
        token_delay_ms: 20,
    };
    let mock = Mock::with(&[("a", cut)]);
    let home = Home::new();
    home.openai_profile("work", &mock.base_url("a"));
    let serve = Serve::start(&home, &[]);
    let reply = serve.post(None, &chat("work", true));
    assert_eq!(reply.status, 200);
    let frames = reply.frames();
    assert!(!frames.iter().any(|f| f == "[DONE]"), "{frames:?}");
    let last: Value = serde_json::from_str(frames.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "stream_interrupted", "{last}");
    assert!(
        frames.len() >= 3,
        "text was sent before the cut: {frames:?}"
    );
}

#[test]
fn bodies_over_the_limit_are_413() {
    let home = Home::new();
    let serve = Serve::start(&home, &["--max-body-bytes", "1000"]);
    let mut body = chat("demo", false);
    body["messages"][1]["content"] = json!("x".repeat(2000));
    let reply = serve.post(None, &body);
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert_eq!(reply.json()["error"]["code"], "request_too_large");
}

#[test]
fn beyond_the_concurrency_cap_requests_get_429() {
    let slow = Behavior::Answer(Answer {
        text: Some("slow".into()),
        first_chunk_delay_ms: 1500,
        ..Answer::default()
    });
    let mock = Mock::with(&[("a", slow)]);
    let home = Home::new();
    home.openai_profile("work", &mock.base_url("a"));
    let serve = Serve::start(&home, &["--max-concurrent", "1", "--max-queue", "0"]);
    let url = serve.url("/v1/chat/completions");
    let first = std::thread::spawn(move || {
        request("POST", &url, None, Some(chat("work", false).to_string()))
    });
    let started = Instant::now();
    while mock.requests("a") == 0 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = serve.post(None, &chat("work", false));
    assert_eq!(second.status, 429, "{}", second.body);
    assert!(second.headers.contains_key("retry-after"));
    assert_eq!(first.join().unwrap().status, 200);
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let home = Home::new();
    let mut serve = Serve::start(&home, &[]);
    let pid = serve.child.id().to_string();
    let killed = StdCommand::new("kill").args(["-TERM", &pid]).status();
    if !killed.is_ok_and(|s| s.success()) {
        println!("skipped: kill not found");
        return;
    }
    let status = serve.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(serve.stderr().iter().any(|l| l.contains("shutting down")));
}

#[test]
fn the_official_openai_python_sdk_works_against_it() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/serve/openai-sdk.sh");
    let out = StdCommand::new("bash")
        .arg(script)
        .env("BATON_BIN", env!("CARGO_BIN_EXE_baton"))
        .output()
        .expect("bash");
    let stdout = text(&out.stdout);
    print!("{stdout}");
    eprint!("{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "the SDK script failed");
    assert!(
        stdout.contains("skipped: ") || stdout.contains("openai-sdk: ok"),
        "{stdout}"
    );
}

#[test]
fn finish_reason_and_reasoning_follow_the_answer() {
    let home = Home::new();
    home.write("cut", profile::model("sim", "sim-truncated"));
    home.write("think", profile::model("sim", "sim-think"));
    let serve = Serve::start(&home, &[]);

    let whole = serve.post(None, &chat("cut", false));
    assert_eq!(whole.status, 200, "{}", whole.body);
    assert_eq!(whole.json()["choices"][0]["finish_reason"], "length");

    let streamed = serve.post(None, &chat("cut", true));
    let frames = streamed.frames();
    assert!(
        frames
            .iter()
            .any(|f| f.contains(r#""finish_reason":"length""#)),
        "{frames:?}"
    );

    let whole = serve.post(None, &chat("think", false));
    let message = &whole.json()["choices"][0]["message"];
    assert!(
        message["reasoning_content"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{message}"
    );
    let streamed = serve.post(None, &chat("think", true));
    assert!(
        streamed
            .frames()
            .iter()
            .any(|f| f.contains("reasoning_content")),
        "{}",
        streamed.body
    );
}
