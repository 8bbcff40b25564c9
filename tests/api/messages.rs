//! `GET /messages`: pagination, order, filters and parameter errors.

use poem::http::StatusCode;
use serde_json::json;

use crate::helpers::msg;
use crate::on_every_backend;

fn query_errors(r: &crate::helpers::Reply) -> Vec<String> {
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    r.body["detail"].as_array().unwrap().iter().map(|d| d["loc"][1].as_str().unwrap().to_owned()).collect()
}

on_every_backend! {
    async fn order_is_ts_then_message_id_and_total_ignores_pagination(app) {
        app.seed(&[
            msg("c", "+111", "2025-01-02T00:00:00Z", None),
            msg("b", "+111", "2025-01-01T00:00:00Z", None),
            msg("a", "+111", "2025-01-01T00:00:00Z", None),
            msg("B", "+111", "2025-01-01T00:00:00Z", None),
            msg("z", "+111", "2024-12-31T23:59:59.999999Z", None),
        ]).await;
        assert_eq!(app.ids("/messages").await, ["z", "B", "a", "b", "c"]);
        let page = app.get("/messages?limit=2&offset=1").await.body;
        assert_eq!(page["total"], 5);
        assert_eq!(page["limit"], 2);
        assert_eq!(page["offset"], 1);
        assert_eq!(app.ids("/messages?limit=2&offset=1").await, ["B", "a"]);
        assert_eq!(app.ids("/messages?offset=5").await, Vec::<String>::new());
        assert_eq!(app.get("/messages?offset=99").await.body["total"], 5);
    }

    async fn fractional_timestamps_sort_chronologically(app) {
        app.seed(&[
            msg("whole", "+111", "2025-01-01T00:00:01Z", None),
            msg("half", "+111", "2025-01-01T00:00:00.5Z", None),
            msg("tenth", "+111", "2025-01-01T00:00:00.1Z", None),
        ]).await;
        assert_eq!(app.ids("/messages").await, ["tenth", "half", "whole"]);
        assert_eq!(app.get("/messages").await.body["data"][1]["ts"], "2025-01-01T00:00:00.500Z");
    }

    async fn from_matches_exactly_even_with_an_unencoded_plus(app) {
        app.seed(&[
            msg("1", "+919876543210", "2025-01-01T00:00:00Z", None),
            msg("2", "+9198765432101", "2025-01-01T00:00:00Z", None),
            msg("3", "+14155550100", "2025-01-01T00:00:00Z", None),
        ]).await;
        assert_eq!(app.ids("/messages?from=%2B919876543210").await, ["1"]);
        assert_eq!(app.ids("/messages?from=+919876543210").await, ["1"]);
        assert_eq!(app.get("/messages?from=+919876543210").await.body["total"], 1);
        assert_eq!(query_errors(&app.get("/messages?from=919876543210").await), ["from"]);
    }

    async fn since_keeps_messages_at_or_after_the_instant(app) {
        app.seed(&[
            msg("old", "+111", "2025-01-01T09:59:59Z", None),
            msg("edge", "+111", "2025-01-01T10:00:00Z", None),
            msg("new", "+111", "2025-01-02T00:00:00Z", None),
        ]).await;
        assert_eq!(app.ids("/messages?since=2025-01-01T10:00:00Z").await, ["edge", "new"]);
        assert_eq!(app.ids("/messages?since=2025-01-01T15:30:00%2B05:30").await, ["edge", "new"]);
        assert_eq!(app.ids("/messages?since=2025-01-01T15:30:00+05:30").await, ["edge", "new"]);
        assert_eq!(query_errors(&app.get("/messages?since=2025-02-30T00:00:00Z").await), ["since"]);
        assert_eq!(query_errors(&app.get("/messages?since=yesterday").await), ["since"]);
    }

    async fn q_is_a_case_insensitive_literal_substring(app) {
        app.seed(&[
            msg("pct", "+111", "2025-01-01T00:00:01Z", Some("50% off")),
            msg("five0", "+111", "2025-01-01T00:00:02Z", Some("500 off")),
            msg("under", "+111", "2025-01-01T00:00:03Z", Some("snake_case")),
            msg("snakes", "+111", "2025-01-01T00:00:04Z", Some("snakeXcase")),
            msg("quote", "+111", "2025-01-01T00:00:05Z", Some("it's here")),
            msg("upper", "+111", "2025-01-01T00:00:06Z", Some("HELLO World")),
            msg("accent", "+111", "2025-01-01T00:00:07Z", Some("ÉTÉ à Paris")),
            msg("none", "+111", "2025-01-01T00:00:08Z", None),
            msg("slash", "+111", "2025-01-01T00:00:09Z", Some("back\\slash")),
        ]).await;
        assert_eq!(app.ids("/messages?q=%25").await, ["pct"]);
        assert_eq!(app.ids("/messages?q=0%25").await, ["pct"]);
        assert_eq!(app.ids("/messages?q=_").await, ["under"]);
        assert_eq!(app.ids("/messages?q=%27").await, ["quote"]);
        assert_eq!(app.ids("/messages?q=hello%20world").await, ["upper"]);
        assert_eq!(app.ids("/messages?q=%C3%A9t%C3%A9").await, ["accent"]);
        assert_eq!(app.ids("/messages?q=%5C").await, ["slash"]);
        assert_eq!(app.get("/messages?q=").await.body["total"], 9);
    }

    async fn filters_combine(app) {
        app.seed(&[
            msg("a", "+111", "2025-01-01T00:00:00Z", Some("hello")),
            msg("b", "+222", "2025-01-02T00:00:00Z", Some("hello")),
            msg("c", "+111", "2025-01-03T00:00:00Z", Some("hello")),
            msg("d", "+111", "2025-01-04T00:00:00Z", Some("bye")),
        ]).await;
        assert_eq!(app.ids("/messages?from=%2B111&since=2025-01-02T00:00:00Z&q=HELLO").await, ["c"]);
    }

    async fn bad_parameters_are_all_listed_in_one_422(app) {
        for (query, expected) in [
            ("limit=0", vec!["limit"]),
            ("limit=101", vec!["limit"]),
            ("limit=abc", vec!["limit"]),
            ("offset=-1", vec!["offset"]),
            ("limit=0&offset=-1&since=x", vec!["limit", "offset", "since"]),
        ] {
            assert_eq!(query_errors(&app.get(&format!("/messages?{query}")).await), expected, "{query}");
        }
        let r = app.get("/messages?limit=100").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, json!({"data": [], "total": 0, "limit": 100, "offset": 0}));
    }
}
