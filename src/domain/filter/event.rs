//! One event as filters see it: converted once per event, then evaluated
//! by every subscriber's filter.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cel::Context;
use cel::common::types::{CelBool, CelDouble, CelList, CelMap, CelMapKey, CelNull, CelString};
use cel::common::value::Val;
use serde_json::Value as Json;

use super::env::ENV;

/// One event as filters see it: built once per event (the conversion of
/// `data` borrows its strings, about 4.5 µs for 1 KiB), then evaluated by
/// every subscriber's filter without copying anything per webhook.
pub struct EventView<'a> {
    context: Context<'a, 'a>,
    labels: &'a BTreeMap<String, String>,
    data: &'a Json,
}

impl<'a> EventView<'a> {
    pub fn new(
        organization_id: &str,
        event_type: &str,
        labels: &'a BTreeMap<String, String>,
        data: &'a Json,
    ) -> Self {
        let mut context = Context::with_env(Arc::clone(&ENV));
        // The two short strings are copied: their borrows need not outlive
        // this call.
        context.add_variable_as_val(
            "organization_id",
            Box::new(CelString::from(organization_id.to_owned())),
        );
        context.add_variable_as_val("type", Box::new(CelString::from(event_type.to_owned())));
        let labels_val: HashMap<CelMapKey<'a>, Box<dyn Val + 'a>> = labels
            .iter()
            .map(|(k, v)| {
                (
                    CelMapKey::from(k.as_str()),
                    Box::new(CelString::from(v.as_str())) as Box<dyn Val + 'a>,
                )
            })
            .collect();
        context.add_variable_as_val("labels", Box::new(CelMap::from(labels_val)));
        context.add_variable_as_val("data", to_val(data));
        EventView {
            context,
            labels,
            data,
        }
    }

    pub(super) fn context(&self) -> &Context<'a, 'a> {
        &self.context
    }

    pub(super) fn labels(&self) -> &BTreeMap<String, String> {
        self.labels
    }

    pub(super) fn data(&self) -> &Json {
        self.data
    }
}

/// JSON as CEL values, borrowing strings and keys. Every number is a
/// `double`, as the CEL specification maps JSON: the crate's own
/// conversion makes integers `uint`, which breaks `data.count + 1`
/// for some values and not others.
fn to_val(json: &Json) -> Box<dyn Val + '_> {
    match json {
        Json::Null => Box::new(CelNull),
        Json::Bool(b) => Box::new(CelBool::from(*b)),
        // Without serde_json's arbitrary precision every number has an f64.
        Json::Number(n) => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        Json::String(s) => Box::new(CelString::from(s.as_str())),
        Json::Array(items) => Box::new(CelList::from(items.iter().map(to_val).collect::<Vec<_>>())),
        Json::Object(fields) => Box::new(CelMap::from(
            fields
                .iter()
                .map(|(k, v)| (CelMapKey::from(k.as_str()), to_val(v)))
                .collect::<HashMap<_, _>>(),
        )),
    }
}
