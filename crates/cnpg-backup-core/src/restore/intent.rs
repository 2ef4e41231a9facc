//! The restore intent document: a versioned UTF-8 JSON file that carries a restore request (and
//! optionally its acknowledgements) for automation and air-gapped hand-offs.
//!
//! ```json
//! {
//!   "apiVersion": "cnpg-backup.io/v1",
//!   "kind": "RestoreIntent",
//!   "restoreId": "r-20261126",
//!   "spec": {
//!     "mode": { "kind": "full", "baseName": "restore-a" },
//!     "sources": {
//!       "admin":  { "kind": "backup", "backup": "cnpg-admin-cnpg-backup-20261126040000" },
//!       "tenant": { "kind": "backup", "backup": "cnpg-tenant-cnpg-backup-20261126040000" }
//!     }
//!   },
//!   "acknowledgements": { "stageOne": "I understand this only creates ..." }
//! }
//! ```
//!
//! The intent skips only the interactive catalog selection: every guard still applies. Parsing
//! rejects unknown fields, documents over [`INTENT_MAX_BYTES`], invalid UTF-8 and a byte-order
//! mark, and every error names the line, column and field path.

use serde::{Deserialize, Serialize};

use super::ack::{AckError, StageOneAck, StageTwoAck};
use super::request::RestoreRequest;
use crate::names::{RestoreId, truncate_for_message};

/// The `apiVersion` of the intent document.
pub const INTENT_API_VERSION: &str = "cnpg-backup.io/v1";

/// The `kind` of the intent document.
pub const INTENT_KIND: &str = "RestoreIntent";

/// The largest intent document accepted (64 KiB).
pub const INTENT_MAX_BYTES: usize = 64 * 1024;

/// Acknowledgements carried by an intent (checked when used, exactly like typed ones).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct IntentAcknowledgements {
    /// The stage-one sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_one: Option<String>,
    /// The stage-two sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_two: Option<String>,
}

/// A restore intent document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct RestoreIntent {
    /// Always `cnpg-backup.io/v1`.
    pub api_version: String,
    /// Always `RestoreIntent`.
    pub kind: String,
    /// The restore id to use (generated when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_id: Option<RestoreId>,
    /// Who hands the intent over (recorded in the audit trail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The request.
    pub spec: RestoreRequest,
    /// Optional acknowledgements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledgements: Option<IntentAcknowledgements>,
}

impl RestoreIntent {
    /// An intent for `spec`.
    pub fn new(spec: RestoreRequest) -> Self {
        Self {
            api_version: INTENT_API_VERSION.to_owned(),
            kind: INTENT_KIND.to_owned(),
            restore_id: None,
            actor: None,
            spec,
            acknowledgements: None,
        }
    }

    /// The stage-one acknowledgement, checked.
    ///
    /// # Errors
    /// [`AckError`] when absent or not exact.
    pub fn stage_one_ack(&self) -> Result<StageOneAck, AckError> {
        StageOneAck::verify(
            self.acknowledgements
                .as_ref()
                .and_then(|a| a.stage_one.as_deref())
                .unwrap_or(""),
        )
    }

    /// The stage-two acknowledgement, checked.
    ///
    /// # Errors
    /// [`AckError`] when absent or not exact.
    pub fn stage_two_ack(&self) -> Result<StageTwoAck, AckError> {
        StageTwoAck::verify(
            self.acknowledgements
                .as_ref()
                .and_then(|a| a.stage_two.as_deref())
                .unwrap_or(""),
        )
    }

    /// The document as pretty JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Why an intent document was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntentError {
    /// Larger than [`INTENT_MAX_BYTES`].
    #[error("restore intent is {len} bytes; the limit is {max} bytes")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Starts with a byte-order mark.
    #[error("restore intent starts with a byte-order mark; save it as UTF-8 without BOM")]
    ByteOrderMark,
    /// Not UTF-8.
    #[error(
        "restore intent is not UTF-8 at line {line}, column {column} (byte {offset}); save it as UTF-8"
    )]
    NotUtf8 {
        /// 1-based line.
        line: usize,
        /// 1-based column (bytes).
        column: usize,
        /// 0-based byte offset.
        offset: usize,
    },
    /// Not JSON, or the JSON does not match the document.
    #[error("restore intent line {line}, column {column}, at `{path}`: {message}")]
    Invalid {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The field path, e.g. `spec.sources.admin.backup` (`.` for the document).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Wrong `apiVersion` or `kind`.
    #[error("restore intent `{field}` is `{found}`; expected `{expected}`")]
    WrongType {
        /// `apiVersion` or `kind`.
        field: &'static str,
        /// What was found.
        found: String,
        /// What is expected.
        expected: &'static str,
    },
}

/// Parses an intent document from bytes.
///
/// # Errors
/// [`IntentError`] with the line, column and field path of the problem.
pub fn parse_intent(bytes: &[u8]) -> Result<RestoreIntent, IntentError> {
    if bytes.len() > INTENT_MAX_BYTES {
        return Err(IntentError::TooLarge {
            len: bytes.len(),
            max: INTENT_MAX_BYTES,
        });
    }
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF])
        || bytes.starts_with(&[0xFE, 0xFF])
        || bytes.starts_with(&[0xFF, 0xFE])
    {
        return Err(IntentError::ByteOrderMark);
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        let (line, column) = line_column(bytes, offset);
        IntentError::NotUtf8 {
            line,
            column,
            offset,
        }
    })?;
    let invalid = |e: serde_json::Error| {
        let (line, column) = (e.line(), e.column());
        let offset = offset_of(text, line, column);
        let path = path_at(text, offset);
        let message = strip_position(&e.to_string());
        IntentError::Invalid {
            line,
            column,
            path,
            message,
        }
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(invalid)?;
    for (field, expected) in [("apiVersion", INTENT_API_VERSION), ("kind", INTENT_KIND)] {
        match value.get(field) {
            Some(serde_json::Value::String(s)) if s == expected => {}
            Some(other) => {
                return Err(IntentError::WrongType {
                    field,
                    found: truncate_for_message(&other.to_string()),
                    expected,
                });
            }
            None => {} // reported by the typed parse as a missing field
        }
    }
    serde_json::from_str(text).map_err(|e| match invalid(e) {
        IntentError::Invalid {
            line,
            column,
            path,
            message,
        } => IntentError::Invalid {
            line,
            column,
            path: refine_path(&value, path, &message),
            message,
        },
        other => other,
    })
}

/// serde reports errors inside internally tagged enums at the end of the enum's object. When the
/// message quotes a value (`` `Restore_A` ``) that occurs exactly once below `path` (a dotted
/// path such as `spec.mode`, `.` for the root), point at it: `spec.mode.baseName`. Any JSON
/// document read into the core's types can use it (the HTTP API does, for request bodies).
pub fn refine_path(root: &serde_json::Value, path: String, message: &str) -> String {
    let mut node = root;
    if path != "." {
        for part in path.split('.') {
            let key = part.split('[').next().unwrap_or(part);
            match node.get(key) {
                Some(n) => node = n,
                None => return path,
            }
            if part.contains('[') {
                return path;
            }
        }
    }
    let quoted: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let mut hits = Vec::new();
    find_strings(node, &mut Vec::new(), &quoted, &mut hits);
    match hits.as_slice() {
        [only] if !only.is_empty() => {
            if path == "." {
                only.join(".")
            } else {
                format!("{path}.{}", only.join("."))
            }
        }
        _ => path,
    }
}

fn find_strings(
    node: &serde_json::Value,
    at: &mut Vec<String>,
    wanted: &[&str],
    hits: &mut Vec<Vec<String>>,
) {
    match node {
        serde_json::Value::String(s) if wanted.contains(&s.as_str()) => hits.push(at.clone()),
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                at.push(k.clone());
                find_strings(v, at, wanted, hits);
                at.pop();
            }
        }
        _ => {}
    }
}

/// The JSON Schema of the intent document, generated from the types.
pub fn intent_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(RestoreIntent);
    serde_json::to_value(schema).unwrap_or(serde_json::Value::Null)
}

/// serde_json appends " at line L column C"; the error carries them separately.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

fn line_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    (line, offset - line_start + 1)
}

/// The byte offset of serde_json's (1-based line, column) position; column 0 means "before the
/// first character of the line".
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    (start + column).min(text.len())
}

#[derive(Debug)]
enum Frame {
    Object { key: Option<String> },
    Array { index: usize },
}

/// The JSON path of the value that contains (or just ended before) byte `offset`.
///
/// A small scanner over the text: it tracks the open objects and arrays and the current key or
/// index. It never fails: on malformed input it returns the path reached so far.
fn path_at(text: &str, offset: usize) -> String {
    let bytes = text.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    let mut expecting_key = false;
    while i < bytes.len() && i < offset {
        match bytes[i] {
            b'{' => {
                stack.push(Frame::Object { key: None });
                expecting_key = true;
                i += 1;
            }
            b'[' => {
                stack.push(Frame::Array { index: 0 });
                expecting_key = false;
                i += 1;
            }
            b'}' | b']' => {
                stack.pop();
                expecting_key = false;
                i += 1;
            }
            b',' => {
                match stack.last_mut() {
                    Some(Frame::Object { key }) => {
                        *key = None;
                        expecting_key = true;
                    }
                    Some(Frame::Array { index }) => *index += 1,
                    None => {}
                }
                i += 1;
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                let end = j.min(bytes.len());
                if expecting_key && let Some(Frame::Object { key }) = stack.last_mut() {
                    let raw = &text[start.min(end)..end];
                    *key = Some(
                        serde_json::from_str(&format!("\"{raw}\""))
                            .unwrap_or_else(|_| raw.to_owned()),
                    );
                    expecting_key = false;
                }
                i = end + 1;
            }
            _ => i += 1,
        }
    }
    let mut out = String::new();
    for frame in &stack {
        match frame {
            Frame::Object { key: Some(k) } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Frame::Object { key: None } => {}
            Frame::Array { index } => out.push_str(&format!("[{index}]")),
        }
    }
    if out.is_empty() {
        ".".to_owned()
    } else {
        truncate_for_message(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restore::ack::{STAGE_ONE_ACK, STAGE_TWO_ACK};
    use crate::restore::request::{PlaneSource, RestoreMode};

    fn sample() -> String {
        format!(
            r#"{{
  "apiVersion": "cnpg-backup.io/v1",
  "kind": "RestoreIntent",
  "restoreId": "r-20261126",
  "actor": "ops@example.com",
  "spec": {{
    "mode": {{ "kind": "full", "baseName": "restore-a" }},
    "sources": {{
      "admin": {{ "kind": "backup", "backup": "cnpg-admin-cnpg-backup-20261126040000" }},
      "tenant": {{ "kind": "point_in_time", "targetTime": "2026-11-26T06:50:00+02:00",
                  "pinnedBackup": "cnpg-tenant-cnpg-backup-20261126040000" }}
    }},
    "instances": 1,
    "afterSuccess": "keep",
    "versionPolicy": "same_minor",
    "overrides": {{ "acceptSetMismatch": true }}
  }},
  "acknowledgements": {{ "stageOne": "{STAGE_ONE_ACK}", "stageTwo": "  {STAGE_TWO_ACK} " }}
}}"#
        )
    }

    #[test]
    fn sample_parses_with_every_field() {
        let intent = parse_intent(sample().as_bytes()).unwrap();
        assert_eq!(intent.restore_id.as_ref().unwrap().as_str(), "r-20261126");
        assert!(matches!(intent.spec.mode, RestoreMode::Full { .. }));
        let Some(PlaneSource::PointInTime {
            target_time,
            pinned_backup,
        }) = &intent.spec.sources.tenant
        else {
            panic!("tenant source: {:?}", intent.spec.sources.tenant);
        };
        assert_eq!(target_time.to_rfc3339(), "2026-11-26T04:50:00+00:00");
        assert!(pinned_backup.is_some());
        assert_eq!(intent.spec.instances, Some(1));
        assert!(intent.stage_one_ack().is_ok());
        assert!(intent.stage_two_ack().is_ok());
        let again = parse_intent(intent.to_json().as_bytes()).unwrap();
        assert_eq!(again, intent);
    }

    #[test]
    fn unknown_field_names_path_and_position() {
        let text = sample().replace(r#""instances": 1,"#, r#""instances": 1, "instancez": 2,"#);
        let err = parse_intent(text.as_bytes()).unwrap_err();
        let IntentError::Invalid {
            line,
            path,
            message,
            ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(*line, 13, "{err}");
        assert_eq!(path, "spec.instancez", "{err}");
        assert!(message.contains("unknown field `instancez`"), "{err}");
    }

    #[test]
    fn bad_value_names_its_path() {
        let text = sample().replace("restore-a", "Restore_A");
        let err = parse_intent(text.as_bytes()).unwrap_err();
        let IntentError::Invalid { line, path, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(*line, 7);
        assert_eq!(path, "spec.mode.baseName", "{err}");
        let text = sample().replace("2026-11-26T06:50:00+02:00", "2026-11-26T06:50:00");
        let err = parse_intent(text.as_bytes()).unwrap_err();
        assert!(
            matches!(&err, IntentError::Invalid { path, .. } if path == "spec.sources.tenant.targetTime"),
            "{err}"
        );
    }

    #[test]
    fn bom_utf8_size_and_kind_are_checked() {
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(sample().as_bytes());
        assert_eq!(parse_intent(&bom).unwrap_err(), IntentError::ByteOrderMark);

        let mut bad = sample().into_bytes();
        bad.insert(40, 0xFF);
        let err = parse_intent(&bad).unwrap_err();
        assert!(
            matches!(
                err,
                IntentError::NotUtf8 {
                    line: 3,
                    offset: 40,
                    ..
                }
            ),
            "{err:?}"
        );

        let big = format!("{}{}", sample(), " ".repeat(INTENT_MAX_BYTES));
        assert!(matches!(
            parse_intent(big.as_bytes()).unwrap_err(),
            IntentError::TooLarge { .. }
        ));

        let v2 = sample().replace("cnpg-backup.io/v1", "cnpg-backup.io/v2");
        let err = parse_intent(v2.as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                IntentError::WrongType {
                    field: "apiVersion",
                    ..
                }
            ),
            "{err}"
        );

        let err = parse_intent(b"{ \"kind\": ").unwrap_err();
        assert!(matches!(err, IntentError::Invalid { line: 1, .. }), "{err}");
    }

    /// Checks `value` against `schema`: objects with `additionalProperties: false` hold only known
    /// properties and every required one; `$ref`, `oneOf`/`anyOf` are followed.
    fn conforms(
        schema: &serde_json::Value,
        root: &serde_json::Value,
        value: &serde_json::Value,
    ) -> bool {
        if let Some(r) = schema.get("$ref").and_then(|r| r.as_str()) {
            let name = r.trim_start_matches("#/$defs/");
            return conforms(&root["$defs"][name], root, value);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(options) = schema.get(key).and_then(|o| o.as_array()) {
                return options.iter().any(|s| conforms(s, root, value));
            }
        }
        if let Some(c) = schema.get("const") {
            return c == value;
        }
        if let Some(e) = schema.get("enum").and_then(|e| e.as_array()) {
            return e.contains(value);
        }
        let type_ok = |t: &str| match t {
            "object" => value.is_object(),
            "string" => value.is_string(),
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_u64() || value.is_i64(),
            "number" => value.is_number(),
            "array" => value.is_array(),
            _ => true,
        };
        match schema.get("type") {
            Some(serde_json::Value::String(t)) if !type_ok(t) => return false,
            Some(serde_json::Value::Array(ts))
                if !ts.iter().filter_map(|t| t.as_str()).any(type_ok) =>
            {
                return false;
            }
            _ => {}
        }
        match value {
            serde_json::Value::Object(map) => {
                let props = schema.get("properties").and_then(|p| p.as_object());
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(|r| r.as_array())
                    .map(|r| r.iter().filter_map(|s| s.as_str()).collect())
                    .unwrap_or_default();
                if required.iter().any(|k| !map.contains_key(*k)) {
                    return false;
                }
                let closed =
                    schema.get("additionalProperties") == Some(&serde_json::Value::Bool(false));
                map.iter().all(|(k, v)| match props.and_then(|p| p.get(k)) {
                    Some(s) => conforms(s, root, v),
                    None => !closed,
                })
            }
            _ => true,
        }
    }

    #[test]
    fn schema_describes_the_document() {
        let schema = intent_schema();
        assert_eq!(schema["title"], "RestoreIntent");
        assert_eq!(schema["additionalProperties"], false);
        let required = schema["required"].as_array().unwrap();
        for key in ["apiVersion", "kind", "spec"] {
            assert!(
                required.contains(&serde_json::json!(key)),
                "{key} not required"
            );
        }
        let sample: serde_json::Value = serde_json::from_str(&sample()).unwrap();
        assert!(conforms(&schema, &schema, &sample));
        let mut extra = sample.clone();
        extra["spec"]["sources"]["admin"]["bogus"] = serde_json::json!(1);
        assert!(
            !conforms(&schema, &schema, &extra),
            "schema must close the sources"
        );
        let mut missing = sample;
        missing["spec"].as_object_mut().unwrap().remove("mode");
        assert!(!conforms(&schema, &schema, &missing), "mode is required");
    }

    #[test]
    fn path_scanner_handles_arrays_and_escapes() {
        let text = r#"{"a": [1, {"b\"c": 2}]}"#;
        let offset = text.find('2').unwrap();
        assert_eq!(path_at(text, offset), "a[1].b\"c");
        assert_eq!(path_at(text, 0), ".");
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics_on_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = parse_intent(&bytes);
        }

        #[test]
        fn parser_never_panics_on_edited_samples(
            at in 0.0f64..1.0,
            cut in 0usize..40,
            insert in proptest::prelude::any::<String>(),
        ) {
            // Splice arbitrary text (multi-byte characters, quotes, escapes) into a valid
            // document, so the errors come from deep inside it and the path scanner runs.
            let text = sample();
            let mut start = (text.len() as f64 * at) as usize;
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + cut).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let edited = format!("{}{insert}{}", &text[..start], &text[end..]);
            match parse_intent(edited.as_bytes()) {
                Ok(intent) => {
                    proptest::prop_assert_eq!(parse_intent(intent.to_json().as_bytes()), Ok(intent));
                }
                Err(IntentError::Invalid { line, column, path, .. }) => {
                    proptest::prop_assert!(line >= 1 && !path.is_empty(), "{line}:{column} `{path}`");
                }
                Err(_) => {}
            }
        }
    }
}
