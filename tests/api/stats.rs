//! `GET /stats`.

use poem::http::StatusCode;
use serde_json::json;

use crate::helpers::msg;
use crate::on_every_backend;

on_every_backend! {
    async fn an_empty_store_has_zero_counts_and_null_timestamps(app) {
        let r = app.get("/stats").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, json!({
            "total_messages": 0, "senders_count": 0, "messages_per_sender": [],
            "first_message_ts": null, "last_message_ts": null
        }));
    }

    async fn senders_rank_by_count_then_number_and_stop_at_ten(app) {
        let mut seed = Vec::new();
        for i in 0..12 {
            seed.push(msg(&format!("one-{i}"), &format!("+1000{i:02}"), "2025-01-02T00:00:00Z", None));
        }
        for i in 0..3 {
            seed.push(msg(&format!("b-{i}"), "+900", "2025-01-03T00:00:00Z", None));
            seed.push(msg(&format!("a-{i}"), "+800", "2025-01-01T00:00:00.25Z", None));
        }
        seed.push(msg("c-0", "+700", "2025-01-05T00:00:00Z", None));
        seed.push(msg("c-1", "+700", "2025-01-04T00:00:00Z", None));
        app.seed(&seed).await;
        let s = app.get("/stats").await.body;
        assert_eq!(s["total_messages"], 20);
        assert_eq!(s["senders_count"], 15);
        let top: Vec<(String, u64)> = s["messages_per_sender"]
            .as_array().unwrap().iter()
            .map(|e| (e["from"].as_str().unwrap().to_owned(), e["count"].as_u64().unwrap()))
            .collect();
        assert_eq!(top.len(), 10);
        assert_eq!(top[..4], [("+800".into(), 3), ("+900".into(), 3), ("+700".into(), 2), ("+100000".into(), 1)]);
        assert_eq!(top[9], ("+100006".into(), 1));
        assert_eq!(s["first_message_ts"], "2025-01-01T00:00:00.250Z");
        assert_eq!(s["last_message_ts"], "2025-01-05T00:00:00Z");
    }
}
