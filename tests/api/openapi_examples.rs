//! The OpenAPI document's examples are true: each response example fits its own schema, and the
//! error examples are exactly what the endpoint sends in that case.

use poem::http::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

/// The component schema a response's JSON body refers to, and its example.
fn response_schema<'a>(spec: &'a Value, path: &str, method: &str, status: &str) -> (&'a Value, &'a Value) {
    let content = &spec["paths"][path][method]["responses"][status]["content"];
    let reference = content["application/json; charset=utf-8"]["schema"]["$ref"]
        .as_str()
        .or_else(|| content["application/json"]["schema"]["$ref"].as_str())
        .unwrap_or_else(|| panic!("{method} {path} {status} has no JSON schema reference: {content}"));
    let name = reference.rsplit('/').next().unwrap();
    let schema = &spec["components"]["schemas"][name];
    (schema, &schema["example"])
}

/// Whether `value` fits `schema` as far as its properties go: every required one present, no
/// unknown one, and nested objects and lists of objects fitting their own schemas.
fn fits(spec: &Value, schema: &Value, value: &Value) -> Result<(), String> {
    let schema = match schema["$ref"].as_str() {
        Some(r) => &spec["components"]["schemas"][r.rsplit('/').next().unwrap()],
        None => schema,
    };
    let Some(object) = value.as_object() else { return Ok(()) };
    let properties = schema["properties"].as_object().ok_or("an object where the schema has no properties")?;
    for required in schema["required"].as_array().into_iter().flatten() {
        let name = required.as_str().unwrap();
        if !object.contains_key(name) {
            return Err(format!("required {name} missing"));
        }
    }
    for (key, v) in object {
        let property = properties.get(key).ok_or_else(|| format!("{key} is not in the schema"))?;
        match v {
            Value::Object(_) => fits(spec, property, v)?,
            Value::Array(items) => {
                for item in items {
                    fits(spec, &property["items"], item)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[tokio::test]
async fn every_response_example_fits_its_schema() {
    let app = TestApp::sqlite().await;
    let spec = app.get("/openapi.json").await.body;
    let mut checked = 0;
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                for media in response["content"].as_object().into_iter().flat_map(|c| c.values()) {
                    let Some(reference) = media["schema"]["$ref"].as_str() else { continue };
                    let schema = &spec["components"]["schemas"][reference.rsplit('/').next().unwrap()];
                    let example = &schema["example"];
                    assert!(!example.is_null(), "{method} {path} {status}: no example");
                    fits(&spec, schema, example).unwrap_or_else(|e| panic!("{method} {path} {status}: {e}"));
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 25, "only {checked} responses checked");
}

#[tokio::test]
async fn error_examples_are_what_the_endpoints_send() {
    let app = TestApp::sqlite_with(|s| s.read_api_token = Some("a-read-token-of-some-length".into())).await;
    let spec = app.get("/openapi.json").await.body;
    let body = crate::helpers::valid_with("message_id", serde_json::json!("ex-1"));
    let big = "x".repeat(4_194_305);
    let cases = [
        ("/webhook", "post", "200", app.post_signed(&body).await),
        ("/webhook", "post", "401", app.post_with(&body, &[("X-Signature", "00")]).await),
        ("/webhook", "post", "413", app.post_signed(&big).await),
        ("/webhook", "get", "403", app.get("/webhook?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1").await),
        (
            "/webhook/twilio",
            "post",
            "401",
            crate::helpers::Reply::from(app.client.post("/webhook/twilio").send().await).await,
        ),
        ("/messages", "get", "401", app.get("/messages").await),
        ("/messages/{message_id}", "get", "404", {
            let req = app.client.get("/messages/absent").header("Authorization", "Bearer a-read-token-of-some-length");
            crate::helpers::Reply::from(req.send().await).await
        }),
    ];
    for (path, method, status, reply) in cases {
        assert_eq!(reply.status, StatusCode::from_u16(status.parse().unwrap()).unwrap(), "{method} {path}");
        let (_, example) = response_schema(&spec, path, method, status);
        assert_eq!(&reply.body, example, "{method} {path} {status}: the example is not what is sent");
    }
}
