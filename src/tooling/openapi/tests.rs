#![allow(clippy::unwrap_used)]

use super::*;

const CLIENTCO: &str = include_str!("../../../tests/fixtures/openapi/clientco.json");
const DRIFT: &str = include_str!("../../../tests/fixtures/openapi/drift.json");

fn scopes(list: &[&str]) -> Security {
    Security::Scopes(list.iter().map(|s| s.to_string()).collect())
}

#[test]
fn fastapi_documents_in_declaration_order() {
    let api = parse(CLIENTCO).unwrap();
    assert_eq!(api.title.as_deref(), Some("SaaSCo API 1.0.0"));
    let listed: Vec<String> = api
        .operations
        .iter()
        .map(|o| format!("{} {}", o.method, o.path))
        .collect();
    assert_eq!(
        listed,
        [
            "POST /ingest",
            "GET /forecast",
            "GET /inventory",
            "POST /models/train"
        ]
    );
    assert_eq!(api.operations[1].security, scopes(&["read:forecast"]));
    assert_eq!(api.operations[1].summary.as_deref(), Some("Forecast"));
    assert_eq!(
        api.scopes[0],
        ("ingest:data".to_owned(), "ClientCo pushes data".to_owned())
    );
    assert!(api.skipped.is_empty());
}

#[test]
fn two_security_schemes_are_alternatives() {
    let api = parse(DRIFT).unwrap();
    let ingest = &api.operations[0];
    assert_eq!(ingest.path, "/ingest");
    let Security::Alternatives(alternatives) = &ingest.security else {
        panic!("{:?}", ingest.security);
    };
    assert_eq!(alternatives.len(), 2);
    assert_eq!(alternatives[1].to_string(), "[partner:upload]");
}

#[test]
fn operation_security_replaces_the_documents() {
    let api = parse(
        r##"{"openapi": "3.0.3", "security": [{"oauth": ["read:all"]}],
            "paths": {
              "/a": {"get": {}, "post": {"security": []}, "put": {"security": [{}]},
                     "delete": {"security": [{"oauth": ["w"], "key": []}]},
                     "patch": {"security": [{}, {"oauth": ["w"]}]}},
              "x-internal": {},
              "/b": {"$ref": "#/components/pathItems/b"}
            }}"##,
    )
    .unwrap();
    let security: Vec<&Security> = api.operations.iter().map(|o| &o.security).collect();
    assert_eq!(security[0], &scopes(&["read:all"]));
    assert_eq!(security[1], &Security::None);
    assert_eq!(security[2], &Security::None);
    // Schemes in one object are all required: their scopes add up.
    assert_eq!(security[3], &scopes(&["w"]));
    let Security::Alternatives(alternatives) = security[4] else {
        panic!("{:?}", security[4]);
    };
    assert_eq!(alternatives[0].to_string(), "[no authentication]");
    assert_eq!(api.skipped.len(), 1, "{:?}", api.skipped);
    assert!(api.skipped[0].contains("$ref"));
}

#[test]
fn yaml_documents_with_numeric_response_codes() {
    let api = parse(
        "openapi: 3.1.0\ninfo: {title: Shop, version: 2}\npaths:\n  /items/{id}:\n    parameters: [{name: id, in: path}]\n    get:\n      security: [{oauth: [read:items]}]\n      responses:\n        200: {description: ok}\n    head: {}\ncomponents:\n  securitySchemes:\n    oauth:\n      type: oauth2\n      flows:\n        clientCredentials:\n          tokenUrl: /token\n          scopes: {read:items: Read items}\n",
    )
    .unwrap();
    assert_eq!(api.title.as_deref(), Some("Shop 2"));
    assert_eq!(api.operations.len(), 2);
    assert_eq!(api.operations[1].method, Method::HEAD);
    assert_eq!(
        api.scopes,
        [("read:items".to_owned(), "Read items".to_owned())]
    );
    let empty = parse("openapi: 3.1.0\npaths:\ncomponents:\n").unwrap();
    assert!(empty.operations.is_empty());
}

#[test]
fn what_is_not_an_openapi_3_document_says_so() {
    let refused = |text: &str| parse(text).unwrap_err();
    assert!(refused(r#"{"swagger": "2.0", "paths": {}}"#).contains("Swagger 2.0"));
    assert!(refused(r#"{"paths": {}}"#).contains("no `openapi` version"));
    assert!(refused(r#"{"openapi": "4.0.0"}"#).contains("4.0.0 is not supported"));
    assert!(refused("{ not json").contains("not an OpenAPI document (JSON)"));
    assert!(refused("- a\n- list\n").contains("not an OpenAPI document (YAML)"));
    assert!(
        refused(r#"{"openapi": "3.1.0", "paths": {"/a": {"get": {"security": "x"}}}}"#)
            .contains("not an OpenAPI document")
    );
}

#[tokio::test]
async fn a_missing_file_is_named() {
    let error = load("no/such/openapi.json").await.unwrap_err();
    assert!(
        error.starts_with("cannot read the OpenAPI document no/such/openapi.json:"),
        "{error}"
    );
}
