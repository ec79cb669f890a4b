//! The codec of this API's services: prost's, except that a message the
//! decoder refuses is the caller's mistake, answered INVALID_ARGUMENT with a
//! `google.rpc.BadRequest` naming the field and saying what is wrong in our
//! words. tonic's own codec answers INTERNAL with prost's text: a 500 for
//! anyone who sends `data` nested a little too deep.
//!
//! The generated clients use it too (`build.rs` names it for both sides), so
//! a response that does not decode is INVALID_ARGUMENT there as well; only
//! this crate's tests call through them.

use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{DecodeBuf, Decoder};
use tonic::{Code, Status};
use tonic_prost::ProstCodec;
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::event::MAX_DATA_DEPTH;

/// How deep prost decodes nested messages (`prost::RECURSION_LIMIT`, which
/// is not public): a JSON object in a `google.protobuf.Struct` takes three
/// levels, a list two.
const DECODER_DEPTH: usize = 100;

/// prost's encoding, with [`Undecodable`] errors.
#[derive(Debug)]
pub struct Codec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for Codec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> tonic::codec::Codec for Codec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = <ProstCodec<T, U> as tonic::codec::Codec>::Encoder;
    type Decoder = Decode<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::default().encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        Decode(PhantomData)
    }
}

/// Decodes a `U`; a refusal is INVALID_ARGUMENT.
#[derive(Debug)]
pub struct Decode<U>(PhantomData<U>);

impl<U: Message + Default> Decoder for Decode<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf).map(Some).map_err(|error| {
            tracing::info!(%error, "a message that does not decode");
            undecodable(&error)
        })
    }
}

/// The answer to a message the decoder refused with `error`.
fn undecodable(error: &prost::DecodeError) -> Status {
    let (field, description) = explain(&error.to_string());
    let message = match field.as_str() {
        "" => format!("invalid request: {description}"),
        field => format!("invalid request: {field}: {description}"),
    };
    let details = ErrorDetails::with_bad_request_violation(field, description);
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// The request field at fault (empty when the message as a whole is), and
/// what is wrong with it, from a `DecodeError`'s text. prost exposes
/// nothing else: the text is `failed to decode Protobuf message: ` then
/// `Message.field: ` for each level, innermost first, then the cause.
fn explain(text: &str) -> (String, String) {
    let rest = text
        .strip_prefix("failed to decode Protobuf message: ")
        .unwrap_or(text);
    let mut outermost = "";
    let mut cause = rest;
    while let Some((level, after)) = cause.split_once(": ") {
        let Some((message, field)) = level.split_once('.') else {
            break;
        };
        let name =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "_#".contains(c));
        if !(name(message) && name(field)) {
            break;
        }
        outermost = field.trim_start_matches("r#");
        cause = after;
    }
    let description = match cause {
        "recursion limit reached" if outermost == "data" => format!(
            "nests objects and lists deeper than protobuf decoding reads ({DECODER_DEPTH} message \
             levels); at most {MAX_DATA_DEPTH} levels are accepted"
        ),
        "recursion limit reached" => {
            format!("nests deeper than protobuf decoding reads ({DECODER_DEPTH} message levels)")
        }
        "invalid string value: data is not UTF-8 encoded" => "is not valid UTF-8".to_owned(),
        _ if outermost.is_empty() => "the message is not valid protobuf".to_owned(),
        _ => "is not valid protobuf".to_owned(),
    };
    (outermost.to_owned(), description)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::proto::{CreateWebhookRequest, PublishEventRequest};

    /// `data` holding `levels` objects, one in the other, the innermost
    /// `{"leaf": true}`.
    fn nested(levels: usize) -> pbjson_types::Struct {
        use pbjson_types::{Struct, Value, value::Kind};
        let leaf = Struct {
            fields: [(
                "leaf".to_owned(),
                Value {
                    kind: Some(Kind::BoolValue(true)),
                },
            )]
            .into(),
        };
        (1..levels).fold(leaf, |inner, _| Struct {
            fields: [(
                "a".to_owned(),
                Value {
                    kind: Some(Kind::StructValue(inner)),
                },
            )]
            .into(),
        })
    }

    fn explained<M: Message + Default + std::fmt::Debug>(bytes: &[u8]) -> (String, String) {
        explain(&M::decode(bytes).unwrap_err().to_string())
    }

    #[test]
    fn data_too_deep_for_the_decoder_is_named_with_the_domain_s_limit() {
        let request = |levels| PublishEventRequest {
            data: Some(nested(levels)),
            ..Default::default()
        };
        // 33 objects still decode: the domain refuses them itself.
        assert!(PublishEventRequest::decode(request(33).encode_to_vec().as_slice()).is_ok());
        let (field, description) = explained::<PublishEventRequest>(&request(34).encode_to_vec());
        assert_eq!(field, "data");
        assert!(description.contains("at most 32 levels"), "{description}");
    }

    #[test]
    fn a_string_that_is_not_utf8_is_named() {
        let (field, description) = explained::<CreateWebhookRequest>(&[0x12, 0x02, 0xff, 0xfe]);
        assert_eq!(
            (field.as_str(), description.as_str()),
            ("url", "is not valid UTF-8")
        );
    }

    #[test]
    fn bytes_that_are_no_message_name_the_field_they_broke_or_none() {
        for (garbage, at) in [
            (&[0xff][..], ""),
            (&[0x12, 0x7f, b'a'][..], "url"),
            (&[0x0b][..], "organization_id"),
        ] {
            let (field, description) = explained::<CreateWebhookRequest>(garbage);
            assert_eq!(field, at, "{garbage:?}");
            let expected = match at {
                "" => "the message is not valid protobuf",
                _ => "is not valid protobuf",
            };
            assert_eq!(description, expected, "{garbage:?}");
        }
    }

    #[test]
    fn the_answer_is_invalid_argument_with_a_bad_request() {
        let error = PublishEventRequest::decode(
            PublishEventRequest {
                data: Some(nested(60)),
                ..Default::default()
            }
            .encode_to_vec()
            .as_slice(),
        )
        .unwrap_err();
        let status = undecodable(&error);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with("invalid request: data: nests"));
        assert!(
            !status.message().contains("Protobuf"),
            "{}",
            status.message()
        );
        let violations = status.get_details_bad_request().unwrap().field_violations;
        assert_eq!(violations[0].field, "data");
    }
}
