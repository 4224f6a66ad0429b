//! Each wire format and each fault, over real TCP with reqwest.
// Test helpers outside #[test] fns: a failed setup should panic loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use baton_mock::{Answer, BackendConfig, Behavior};
use common::*;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use tokio::time::Instant;

#[tokio::test]
async fn openai_streams_chunks_usage_and_done() {
    let mock = server(&[("alpha", BackendConfig::default())]).await;
    let resp = post_openai(&mock, "alpha", true).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let events = sse_data(&resp.text().await.unwrap());
    let (done, rest) = events.split_last().unwrap();
    assert_eq!(done, "[DONE]");
    let (usage, rest) = rest.split_last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 4, "completion_tokens": 8, "total_tokens": 12})
    );
    let (finish, chunks) = rest.split_last().unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let text: String = chunks
        .iter()
        .map(|c| {
            assert_eq!(c["object"], "chat.completion.chunk");
            assert_eq!(c["choices"][0]["finish_reason"], Value::Null);
            c["choices"][0]["delta"]["content"].as_str().unwrap()
        })
        .collect();
    assert_eq!(text, "Hello from alpha. This is a mock answer.");
    assert_eq!(chunks.len(), 8);
}

#[tokio::test]
async fn openai_whole_answer_and_model_list() {
    let mock = server(&[("alpha", BackendConfig::new(Behavior::answer("two words")))]).await;
    let body: Value = post_openai(&mock, "alpha", false)
        .await
        .json_value()
        .await
        .unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "two words");
    assert_eq!(body["usage"]["completion_tokens"], 2);
    let models: Value = client()
        .get(format!("{}/models", mock.base_url("alpha")))
        .send()
        .await
        .unwrap()
        .json_value()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "mock-model");
    assert_eq!(mock.requests("alpha"), 1, "model lists are not counted");
}

#[tokio::test]
async fn anthropic_streams_its_event_sequence() {
    let mock = server(&[("claude", BackendConfig::new(Behavior::answer("a b")))]).await;
    let text = client()
        .post(format!("{}/messages", mock.anthropic_base_url("claude")))
        .header("x-api-key", "k")
        .json_body(
            &json!({"model": "claude-mock", "stream": true, "max_tokens": 10,
                      "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(
        events,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let data = sse_data(&text);
    assert_eq!(data[0]["message"]["usage"]["input_tokens"], 1);
    assert_eq!(data[3]["delta"], json!({"type": "text_delta", "text": "a"}));
    assert_eq!(data[4]["delta"]["text"], " b");
    assert_eq!(data[6]["delta"]["stop_reason"], "end_turn");
    assert_eq!(data[6]["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn gemini_streams_sse_and_answers_whole() {
    let mock = server(&[("gem", BackendConfig::new(Behavior::answer("x y z")))]).await;
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "one two"}]}]});
    let text = client()
        .post(format!(
            "{}/models/gemini-mock:streamGenerateContent?alt=sse",
            mock.gemini_base_url("gem")
        ))
        .header("x-goog-api-key", "g")
        .json_body(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let data = sse_data(&text);
    assert_eq!(data.len(), 3);
    let parts: String = data
        .iter()
        .map(|d| {
            d["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(parts, "x y z");
    assert!(data[1]["candidates"][0].get("finishReason").is_none());
    assert_eq!(data[2]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        data[2]["usageMetadata"],
        json!({"promptTokenCount": 2, "candidatesTokenCount": 3, "totalTokenCount": 5})
    );
    let whole: Value = client()
        .post(format!(
            "{}/models/gemini-mock:generateContent",
            mock.gemini_base_url("gem")
        ))
        .json_body(&body)
        .send()
        .await
        .unwrap()
        .json_value()
        .await
        .unwrap();
    assert_eq!(
        whole["candidates"][0]["content"]["parts"][0]["text"],
        "x y z"
    );
    assert_eq!(whole["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn ollama_streams_ndjson_by_default() {
    let mock = server(&[("llama", BackendConfig::new(Behavior::answer("p q")))]).await;
    let url = format!("{}/api/chat", mock.ollama_base_url("llama"));
    let body = json!({"model": "llama3", "messages": [{"role": "user", "content": "hi"}]});
    let resp = client().post(&url).json_body(&body).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let text = resp.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["message"]["content"], "p");
    assert_eq!(lines[0]["done"], false);
    assert_eq!(lines[0]["model"], "llama3");
    assert_eq!(lines[2]["done"], true);
    assert_eq!(lines[2]["done_reason"], "stop");
    assert_eq!(lines[2]["prompt_eval_count"], 1);
    assert_eq!(lines[2]["eval_count"], 2);
    let mut whole_req = body.clone();
    whole_req["stream"] = json!(false);
    let whole: Value = client()
        .post(&url)
        .json_body(&whole_req)
        .send()
        .await
        .unwrap()
        .json_value()
        .await
        .unwrap();
    assert_eq!(whole["message"]["content"], "p q");
    assert_eq!(whole["done"], true);
}

#[tokio::test]
async fn script_runs_in_order_then_the_default() {
    let mock = server(&[("a", BackendConfig::new(Behavior::answer("default")))]).await;
    mock.push_script("a", vec![Behavior::status(500), Behavior::answer("second")]);
    let first = post_openai(&mock, "a", false).await;
    assert_eq!(first.status(), 500);
    let first: Value = first.json_value().await.unwrap();
    assert_eq!(first["error"]["type"], "server_error");
    for want in ["second", "default", "default"] {
        let body: Value = post_openai(&mock, "a", false)
            .await
            .json_value()
            .await
            .unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], want);
    }
    assert_eq!(mock.requests("a"), 4);
    assert!(mock.backend("a").unwrap().script.is_empty());
}

#[tokio::test]
async fn status_sends_retry_after_headers_in_each_shape() {
    let mock = server(&[(
        "rl",
        BackendConfig::new(Behavior::Status {
            code: 429,
            message: Some("slow down".into()),
            retry_after_s: Some(3),
            retry_after_ms: Some(1500),
        }),
    )])
    .await;
    let resp = client()
        .post(format!("{}/messages", mock.anthropic_base_url("rl")))
        .json_body(&json!({"stream": true, "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "3");
    assert_eq!(resp.headers()["retry-after-ms"], "1500");
    let body: Value = resp.json_value().await.unwrap();
    assert_eq!(
        body,
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    );
    let body: Value = client()
        .post(format!("{}/api/chat", mock.ollama_base_url("rl")))
        .json_body(&json!({"messages": []}))
        .send()
        .await
        .unwrap()
        .json_value()
        .await
        .unwrap();
    assert_eq!(body, json!({"error": "slow down"}));
}

#[tokio::test]
async fn require_key_gives_401_until_the_key_is_fixed() {
    let mock = server(&[(
        "locked",
        BackendConfig::new(Behavior::answer("ok"))
            .with_key("good")
            .with_script(vec![Behavior::answer("scripted")]),
    )])
    .await;
    let resp = post_openai(&mock, "locked", false).await;
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json_value().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");

    let resp = client()
        .post(format!("{}/messages", mock.anthropic_base_url("locked")))
        .header("x-api-key", "bad")
        .json_body(&json!({"messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json_value().await.unwrap();
    assert_eq!(body["error"]["type"], "authentication_error");

    let resp = client()
        .post(format!(
            "{}/models/m:generateContent",
            mock.gemini_base_url("locked")
        ))
        .json_body(&json!({"contents": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json_value().await.unwrap();
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");

    // The right key: the script was not consumed by the refusals.
    let body: Value = client()
        .post(format!("{}/chat/completions", mock.base_url("locked")))
        .bearer_auth("good")
        .json_body(&openai_body(false))
        .send()
        .await
        .unwrap()
        .json_value()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "scripted");

    // "Fix auth" from a shell script: drop the key requirement over the control API.
    let resp = client()
        .put(format!("{}/_mock/backends/locked", mock.url()))
        .json_body(&json!({"behavior": {"kind": "answer", "text": "fixed"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = post_openai(&mock, "locked", false)
        .await
        .json_value()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "fixed");
    assert_eq!(mock.requests("locked"), 5);
    let refused = mock
        .recorded("locked")
        .iter()
        .filter(|r| r.behavior.is_none())
        .count();
    assert_eq!(refused, 3);
}

#[tokio::test]
async fn cut_aborts_the_body_after_its_chunks() {
    let mock = server(&[(
        "c",
        BackendConfig::new(Behavior::Cut {
            after_chunks: 2,
            token_delay_ms: 0,
        }),
    )])
    .await;
    let resp = post_openai(&mock, "c", true).await;
    assert_eq!(resp.status(), 200);
    let (text, ending) = read_until_quiet(resp, Duration::from_secs(2)).await;
    assert_eq!(ending, "error");
    let data = sse_data(&text);
    assert_eq!(data.len(), 2, "{text}");
    assert_eq!(data[0]["choices"][0]["delta"]["content"], "Hello");
    assert!(!text.contains("[DONE]"));

    // A whole request is cut too: the JSON never completes.
    let err = post_openai(&mock, "c", false).await.text().await;
    assert!(err.is_err());
}

// Paused time: the quiet wait costs nothing, and the shutdown's virtual time says
// whether it waited out its grace period for the stalled stream.
#[tokio::test(start_paused = true)]
async fn stall_sends_its_chunks_then_nothing() {
    let mock = server(&[(
        "s",
        BackendConfig::new(Behavior::Stall {
            after_chunks: 2,
            token_delay_ms: 0,
        }),
    )])
    .await;
    let resp = client()
        .post(format!("{}/messages", mock.anthropic_base_url("s")))
        .json_body(&json!({"stream": true, "messages": []}))
        .send()
        .await
        .unwrap();
    let (text, ending) = read_until_quiet(resp, Duration::from_millis(300)).await;
    assert_eq!(ending, "quiet");
    let deltas = text.matches("event: content_block_delta").count();
    assert_eq!(deltas, 2, "{text}");
    assert!(!text.contains("message_stop"));

    // Shutdown ends the stalled stream instead of waiting out its 5 s grace.
    let started = Instant::now();
    mock.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn malformed_and_empty_keep_status_and_content_type() {
    let mock = server(&[
        ("bad", BackendConfig::new(Behavior::Malformed)),
        ("nothing", BackendConfig::new(Behavior::Empty)),
    ])
    .await;
    let resp = post_openai(&mock, "bad", true).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let text = resp.text().await.unwrap();
    let payload = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    assert!(serde_json::from_str::<Value>(payload).is_err());

    let resp = client()
        .post(format!("{}/api/chat", mock.ollama_base_url("nothing")))
        .json_body(&json!({"messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    assert_eq!(resp.text().await.unwrap(), "");
}

#[tokio::test]
async fn drop_closes_the_connection_without_a_response() {
    let mock = server(&[("d", BackendConfig::new(Behavior::answer("after")))]).await;
    mock.push_script("d", vec![Behavior::Drop]);
    let err = client()
        .post(format!("{}/chat/completions", mock.base_url("d")))
        .json_body(&openai_body(false))
        .send()
        .await
        .unwrap_err();
    assert!(err.status().is_none(), "{err:?}");
    // The server keeps serving after the drop.
    let body: Value = post_openai(&mock, "d", false)
        .await
        .json_value()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "after");
    assert_eq!(mock.requests("d"), 2);
}

// Paused time: the delays are exact and cost nothing.
#[tokio::test(start_paused = true)]
async fn first_chunk_delay_holds_the_body_not_the_head() {
    let mock = server(&[(
        "slow",
        BackendConfig::new(Behavior::Answer(Answer {
            text: Some("late".into()),
            first_chunk_delay_ms: 250,
            ..Answer::default()
        })),
    )])
    .await;
    let started = Instant::now();
    let resp = post_openai(&mock, "slow", true).await;
    assert_eq!(started.elapsed(), Duration::ZERO, "the head waited");
    let (text, ending) = read_until_quiet(resp, Duration::from_millis(100)).await;
    assert_eq!((text.as_str(), ending), ("", "quiet"));
    let (text, ending) = read_until_quiet(
        post_openai(&mock, "slow", true).await,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(ending, "end");
    assert!(text.contains("late"));
    assert!(started.elapsed() >= Duration::from_millis(250));
}
