//! The messages, enums and methods of the API as the build's descriptor sets
//! describe them: field names in both spellings, types, and the proto
//! comments. The transcoder reads a request's shape from here, and the
//! OpenAPI document is written from it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorProto, FileDescriptorSet};

use super::errors::GOOGLE_RPC_DESCRIPTOR_SET;
use crate::grpc::proto::FILE_DESCRIPTOR_SET;

/// Every message, enum and method of the API and of `google.rpc`, by full
/// name without the leading dot (`webhooks.v1.Webhook`).
#[derive(Debug, Default)]
pub struct Descriptors {
    pub messages: BTreeMap<String, MessageShape>,
    pub enums: BTreeMap<String, EnumShape>,
    /// Keyed `package.Service/Method`, as in a gRPC path.
    pub methods: BTreeMap<String, MethodShape>,
    /// Each service's comment, by full name.
    pub services: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct MessageShape {
    pub comment: String,
    pub fields: Vec<FieldShape>,
    /// A map's entry type, not a message of its own.
    pub map_entry: bool,
}

#[derive(Debug)]
pub struct FieldShape {
    /// As in the proto: `organization_id`.
    pub name: String,
    /// As in JSON: `organizationId`.
    pub json_name: String,
    pub kind: FieldKind,
    pub repeated: bool,
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    Scalar(Type),
    /// A message's full name.
    Message(String),
    /// An enum's full name.
    Enum(String),
}

#[derive(Debug)]
pub struct EnumShape {
    pub comment: String,
    /// Names and comments, in declaration order.
    pub values: Vec<(String, String)>,
}

#[derive(Debug)]
pub struct MethodShape {
    /// The request message's full name.
    pub input: String,
    /// The response message's full name.
    pub output: String,
    pub comment: String,
}

/// The descriptors of the API and of `google.rpc`, read once.
pub fn descriptors() -> &'static Descriptors {
    static DESCRIPTORS: OnceLock<Descriptors> = OnceLock::new();
    DESCRIPTORS.get_or_init(|| {
        let mut descriptors = Descriptors::default();
        for set in [FILE_DESCRIPTOR_SET, GOOGLE_RPC_DESCRIPTOR_SET] {
            // Written by build.rs from the same protos: it always decodes.
            let set = FileDescriptorSet::decode(set).expect("the build's descriptor set");
            for file in &set.file {
                descriptors.add_file(file);
            }
        }
        descriptors
    })
}

impl Descriptors {
    /// The message `name`; panics when there is none, since every name asked
    /// for comes from the descriptors themselves or from the route table.
    pub fn message(&self, name: &str) -> &MessageShape {
        self.messages
            .get(name)
            .unwrap_or_else(|| panic!("no message {name} in the descriptor sets"))
    }

    fn add_file(&mut self, file: &FileDescriptorProto) {
        let comments = Comments::of(file);
        let package = file.package();
        for (i, message) in file.message_type.iter().enumerate() {
            self.add_message(package, message, &comments, vec![4, i as i32]);
        }
        for (i, enumeration) in file.enum_type.iter().enumerate() {
            self.add_enum(package, enumeration, &comments, vec![5, i as i32]);
        }
        for (s, service) in file.service.iter().enumerate() {
            self.services.insert(
                format!("{package}.{}", service.name()),
                comments.at(&[6, s as i32]),
            );
            for (m, method) in service.method.iter().enumerate() {
                self.methods.insert(
                    format!("{package}.{}/{}", service.name(), method.name()),
                    MethodShape {
                        input: full_name(method.input_type()),
                        output: full_name(method.output_type()),
                        comment: comments.at(&[6, s as i32, 2, m as i32]),
                    },
                );
            }
        }
    }

    fn add_message(
        &mut self,
        scope: &str,
        message: &DescriptorProto,
        comments: &Comments,
        path: Vec<i32>,
    ) {
        let name = format!("{scope}.{}", message.name());
        let fields = message
            .field
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let kind = match field.r#type() {
                    Type::Message | Type::Group => FieldKind::Message(full_name(field.type_name())),
                    Type::Enum => FieldKind::Enum(full_name(field.type_name())),
                    scalar => FieldKind::Scalar(scalar),
                };
                FieldShape {
                    name: field.name().to_owned(),
                    json_name: field
                        .json_name
                        .clone()
                        .unwrap_or_else(|| json_name(field.name())),
                    kind,
                    repeated: field.label() == Label::Repeated,
                    comment: comments.at(&[path.as_slice(), &[2, i as i32]].concat()),
                }
            })
            .collect();
        for (i, nested) in message.nested_type.iter().enumerate() {
            self.add_message(
                &name,
                nested,
                comments,
                [path.as_slice(), &[3, i as i32]].concat(),
            );
        }
        for (i, nested) in message.enum_type.iter().enumerate() {
            self.add_enum(
                &name,
                nested,
                comments,
                [path.as_slice(), &[4, i as i32]].concat(),
            );
        }
        let shape = MessageShape {
            comment: comments.at(&path),
            fields,
            map_entry: message.options.as_ref().is_some_and(|o| o.map_entry()),
        };
        self.messages.insert(name, shape);
    }

    fn add_enum(
        &mut self,
        scope: &str,
        enumeration: &EnumDescriptorProto,
        comments: &Comments,
        path: Vec<i32>,
    ) {
        let values = enumeration
            .value
            .iter()
            .enumerate()
            .map(|(i, value)| {
                let comment = comments.at(&[path.as_slice(), &[2, i as i32]].concat());
                (value.name().to_owned(), comment)
            })
            .collect();
        self.enums.insert(
            format!("{scope}.{}", enumeration.name()),
            EnumShape {
                comment: comments.at(&path),
                values,
            },
        );
    }
}

/// The leading comments of one file, by descriptor path.
struct Comments(BTreeMap<Vec<i32>, String>);

impl Comments {
    fn of(file: &FileDescriptorProto) -> Self {
        let locations = file.source_code_info.iter().flat_map(|i| &i.location);
        Self(
            locations
                .filter_map(|l| Some((l.path.clone(), l.leading_comments.clone()?)))
                .map(|(path, text)| (path, unindent(&text)))
                .collect(),
        )
    }

    fn at(&self, path: &[i32]) -> String {
        self.0.get(path).cloned().unwrap_or_default()
    }
}

/// A comment's lines without the space after `//`, and without the blank
/// line at its end.
fn unindent(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect();
    lines.join("\n").trim().to_owned()
}

/// `.webhooks.v1.Webhook` → `webhooks.v1.Webhook`.
fn full_name(type_name: &str) -> String {
    type_name.trim_start_matches('.').to_owned()
}

/// The proto3 JSON name of a field: lowerCamelCase (`page_size` → `pageSize`).
pub fn json_name(proto_name: &str) -> String {
    let mut name = String::with_capacity(proto_name.len());
    let mut upper = false;
    for c in proto_name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            name.extend(c.to_uppercase());
            upper = false;
        } else {
            name.push(c);
        }
    }
    name
}

/// The proto name of a field given by its JSON name (`pageSize` →
/// `page_size`); a proto name is left as it is.
pub fn proto_name(json_name: &str) -> String {
    let mut name = String::with_capacity(json_name.len() + 4);
    for c in json_name.chars() {
        if c.is_ascii_uppercase() {
            name.push('_');
            name.push(c.to_ascii_lowercase());
        } else {
            name.push(c);
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_convert_both_ways() {
        assert_eq!(json_name("rate_limit_per_second"), "rateLimitPerSecond");
        assert_eq!(json_name("url"), "url");
        assert_eq!(proto_name("rateLimitPerSecond"), "rate_limit_per_second");
        assert_eq!(proto_name("update_mask"), "update_mask");
    }

    #[test]
    fn the_api_is_described_with_its_comments() {
        let descriptors = descriptors();
        let create = &descriptors.methods["webhooks.v1.WebhookService/CreateWebhook"];
        assert_eq!(create.input, "webhooks.v1.CreateWebhookRequest");
        assert!(
            create.comment.starts_with("Registers a webhook"),
            "{create:?}"
        );
        let webhook = descriptors.message("webhooks.v1.Webhook");
        let created_at = webhook.fields.iter().find(|f| f.name == "created_at");
        let created_at = created_at.expect("a created_at field");
        assert_eq!(created_at.json_name, "createdAt");
        assert_eq!(
            created_at.kind,
            FieldKind::Message("google.protobuf.Timestamp".into())
        );
        assert_eq!(created_at.comment, "When the webhook was registered.");
        let statuses = &descriptors.enums["webhooks.v1.DeliveryStatus"];
        assert_eq!(statuses.values[3].0, "DELIVERY_STATUS_FAILED");
        assert!(descriptors.messages.contains_key("google.rpc.BadRequest"));
        assert!(
            descriptors
                .messages
                .contains_key("google.rpc.BadRequest.FieldViolation")
        );
    }
}
