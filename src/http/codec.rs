//! The bytes of a call: a request's JSON to its proto message and into a
//! gRPC frame, and a response's frame back out to JSON, through the
//! generated serde implementations (the proto3 JSON mapping) and prost.

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// How one RPC's request and response messages go to and from JSON.
#[derive(Debug, Clone, Copy)]
pub struct Codec {
    request: fn(Value) -> Result<Vec<u8>, serde_json::Error>,
    response: fn(&[u8]) -> Result<Vec<u8>, String>,
}

impl Codec {
    /// The codec of an RPC taking `Req` and answering `Resp`.
    pub const fn of<Req, Resp>() -> Self
    where
        Req: Message + DeserializeOwned,
        Resp: Message + Default + Serialize,
    {
        Self {
            request: request_bytes::<Req>,
            response: response_json::<Resp>,
        }
    }

    /// The request message's protobuf encoding, from its JSON; fails on a
    /// field the message does not have or a value of the wrong type.
    pub fn request(&self, json: Value) -> Result<Vec<u8>, serde_json::Error> {
        (self.request)(json)
    }

    /// The response message's JSON, from its protobuf encoding.
    pub fn response(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        (self.response)(message)
    }
}

fn request_bytes<Req: Message + DeserializeOwned>(
    json: Value,
) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::from_value::<Req>(json).map(|message| message.encode_to_vec())
}

fn response_json<Resp: Message + Default + Serialize>(message: &[u8]) -> Result<Vec<u8>, String> {
    let message = Resp::decode(message).map_err(|e| e.to_string())?;
    let mut json = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut json, WholeNumbers);
    message
        .serialize(&mut serializer)
        .map_err(|e| e.to_string())?;
    Ok(json)
}

/// Writes a whole double without a fraction (`1200`, not `1200.0`), as
/// protojson does. The only doubles this API answers are the numbers of a
/// `Struct` (an event type's schema and example), which their author most
/// likely wrote as integers and a typed client reads as such; PublishEvent
/// delivers `data` the same way.
struct WholeNumbers;

impl serde_json::ser::Formatter for WholeNumbers {
    fn write_f64<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        value: f64,
    ) -> std::io::Result<()> {
        // Beyond 2^53 a double no longer holds every integer.
        const EXACT: f64 = 9_007_199_254_740_992.0;
        if value.fract() == 0.0 && value.abs() <= EXACT {
            write!(writer, "{}", value as i64)
        } else {
            serde_json::ser::CompactFormatter.write_f64(writer, value)
        }
    }
}

/// `message` as the one length-prefixed message of a gRPC request:
/// uncompressed flag, 4-byte big-endian length, the bytes.
pub fn frame(message: &[u8]) -> Result<Bytes, String> {
    let length = u32::try_from(message.len()).map_err(|_| "message too large".to_owned())?;
    let mut frame = BytesMut::with_capacity(5 + message.len());
    frame.put_u8(0);
    frame.put_u32(length);
    frame.put_slice(message);
    Ok(frame.freeze())
}

/// The one message of a unary gRPC response body.
pub fn unframe(body: &[u8]) -> Result<&[u8], String> {
    let [flag, a, b, c, d, message @ ..] = body else {
        return Err(format!("a response of {} bytes has no message", body.len()));
    };
    if *flag != 0 {
        return Err("a compressed response message".to_owned());
    }
    let length = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
    if message.len() != length {
        return Err(format!(
            "a message of {length} bytes announced, {} bytes sent",
            message.len()
        ));
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::proto;

    #[test]
    fn a_framed_message_unframes_to_itself() {
        let message = b"\x0a\x03abc";
        let framed = frame(message).unwrap();
        assert_eq!(&framed[..5], &[0, 0, 0, 0, 5]);
        assert_eq!(unframe(&framed).unwrap(), message);
        assert!(unframe(&framed[..7]).is_err());
        assert!(unframe(&[1, 0, 0, 0, 0]).is_err());
        assert_eq!(unframe(&[0, 0, 0, 0, 0]).unwrap(), b"");
    }

    #[test]
    fn json_goes_to_protobuf_and_back_in_the_proto3_mapping() {
        let codec = Codec::of::<proto::GetWebhookRequest, proto::Webhook>();
        let bytes = codec
            .request(serde_json::json!({"organizationId": "o", "webhook_id": "w"}))
            .unwrap();
        let request = proto::GetWebhookRequest::decode(bytes.as_slice()).unwrap();
        assert_eq!(
            (
                request.organization_id.as_str(),
                request.webhook_id.as_str()
            ),
            ("o", "w")
        );
        let unknown = codec.request(serde_json::json!({"organizationId": "o", "colour": "red"}));
        assert!(
            unknown
                .unwrap_err()
                .to_string()
                .contains("unknown field `colour`")
        );

        let webhook = proto::Webhook {
            id: "w".into(),
            rate_limit_per_second: 3,
            created_at: Some(crate::grpc::timestamp::Timestamp {
                seconds: 1,
                nanos: 0,
            }),
            ..Default::default()
        };
        let json = codec.response(&webhook.encode_to_vec()).unwrap();
        let json: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(json["id"], "w");
        assert_eq!(json["rateLimitPerSecond"], 3);
        assert!(
            json["createdAt"]
                .as_str()
                .unwrap()
                .starts_with("1970-01-01T00:00:01")
        );
        // Fields at their default value are there too, as grpc-gateway v2
        // writes them.
        assert_eq!(json["enabled"], false, "{json}");
        assert_eq!(json["events"], serde_json::json!([]), "{json}");
    }

    #[test]
    fn whole_numbers_of_a_struct_are_written_without_a_fraction() {
        let codec = Codec::of::<proto::GetEventTypeRequest, proto::EventTypeInfo>();
        let schema =
            serde_json::json!({"minimum": 0, "maximum": 1e15, "multipleOf": 0.5, "big": 1e300});
        let info = proto::EventTypeInfo {
            schema: Some(serde_json::from_value(schema).unwrap()),
            ..Default::default()
        };
        let json = codec.response(&info.encode_to_vec()).unwrap();
        let text = String::from_utf8(json).unwrap();
        assert!(
            text.contains("\"minimum\":0,") || text.contains("\"minimum\":0}"),
            "{text}"
        );
        assert!(text.contains("\"maximum\":1000000000000000"), "{text}");
        assert!(text.contains("\"multipleOf\":0.5"), "{text}");
        let json: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["schema"]["big"], 1e300, "{text}");
    }
}
