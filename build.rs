//! Compiles `proto/` with the pure-Rust `protox`, so no system `protoc` is
//! needed; writes the descriptor sets that server reflection and the OpenAPI
//! document are made from; and generates the proto3 JSON mapping (pbjson)
//! that the REST face speaks.

use std::path::{Path, PathBuf};

use protox::prost::Message;

/// The well-known types (Timestamp, Struct, FieldMask, Empty, ...) come from
/// pbjson-types, the prost types with their proto3 JSON mapping. Their
/// protobuf encoding is the same as prost-types'.
const WELL_KNOWN_TYPES: (&str, &str) = (".google.protobuf", "::pbjson_types");
/// Except Timestamp, whose JSON pbjson-types writes with `+00:00` where the
/// proto3 mapping asks for `Z`: ours (`src/grpc/timestamp.rs`).
const TIMESTAMP: (&str, &str) = (
    ".google.protobuf.Timestamp",
    "crate::grpc::timestamp::Timestamp",
);

/// Messages whose `Debug` is written by hand (`src/grpc/headers.rs`): a
/// header's value may be a credential, and a request logged with `{:?}`
/// must not show it.
const OWN_DEBUG: &[&str] = &[".webhooks.v1.WebhookHeader"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    // The wire contract: messages, services and their JSON mapping.
    compile(
        &out_dir,
        &["proto/webhooks/v1/webhooks.proto"],
        "webhooks_descriptor.bin",
        ".webhooks.v1",
        Generate {
            services: true,
            every_field: true,
        },
    )?;
    // `google.rpc.Status` and its details, which the REST face turns into
    // JSON error bodies (gRPC itself uses tonic-types' copies).
    compile(
        &out_dir,
        &[
            "proto/google/rpc/status.proto",
            "proto/google/rpc/error_details.proto",
        ],
        "google_rpc_descriptor.bin",
        ".google.rpc",
        Generate {
            services: false,
            every_field: false,
        },
    )?;
    Ok(())
}

/// What to generate beside the messages.
struct Generate {
    /// Their services' servers and clients.
    services: bool,
    /// JSON with every field, at its default value too (`"enabled": false`,
    /// `[]`), as grpc-gateway v2 answers by default: a REST client need not
    /// know proto3's defaults. Error details stay as Google's APIs write
    /// them, with only the fields that are set.
    every_field: bool,
}

/// Generates the messages of `protos` (and what `generate` asks for), their
/// serde implementations for `package`, and writes their descriptor set to
/// `descriptor_file`.
fn compile(
    out_dir: &Path,
    protos: &[&str],
    descriptor_file: &str,
    package: &str,
    generate: Generate,
) -> Result<(), Box<dyn std::error::Error>> {
    let services = generate.services;
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    let descriptors = fds.encode_to_vec();
    std::fs::write(out_dir.join(descriptor_file), &descriptors)?;
    tonic_prost_build::configure()
        // INVALID_ARGUMENT, not tonic's INTERNAL, for a message that does
        // not decode (src/grpc/codec.rs).
        .codec_path("crate::grpc::codec::Codec")
        .build_server(services)
        .build_client(services)
        .skip_debug(OWN_DEBUG)
        .compile_well_known_types(true)
        .extern_path(WELL_KNOWN_TYPES.0, WELL_KNOWN_TYPES.1)
        .extern_path(TIMESTAMP.0, TIMESTAMP.1)
        .compile_fds(fds)?;
    // Unknown JSON fields are an error (pbjson's default): a misspelt field
    // must not be silently ignored.
    let mut json = pbjson_build::Builder::new();
    json.register_descriptors(&descriptors)?
        .extern_path(WELL_KNOWN_TYPES.0, WELL_KNOWN_TYPES.1)
        .extern_path(TIMESTAMP.0, TIMESTAMP.1);
    if generate.every_field {
        json.emit_fields();
    }
    json.build(&[package])?;
    Ok(())
}
