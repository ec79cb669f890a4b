//! Who may do what: one table of what each action needs (a role in the
//! organization acted on, a scope, or just a verified token), and the
//! checks made with it. A platform's own backend, with a token of the
//! identity provider holding [`PLATFORM_SCOPE`], meets every role rule in
//! every organization.

use std::borrow::Cow;

use super::OrganizationId;
use super::caller::{Caller, Credential, Role};

/// Something a caller asks to do: one per RPC, named as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreateWebhook,
    ListWebhooks,
    GetWebhook,
    UpdateWebhook,
    DeleteWebhook,
    RotateWebhookSecret,
    ListDeliveries,
    GetWebhookStats,
    GetDelivery,
    RetryDelivery,
    RecoverWebhook,
    SendTestEvent,
    TestWebhookFilter,
    ListEventTypes,
    GetEventType,
    CreateEventType,
    UpdateEventType,
    PublishEvent,
    CreatePortalLink,
}

impl Action {
    /// Every action, each with the name of its RPC.
    const NAMED: [(&'static str, Action); 19] = [
        ("CreateWebhook", Action::CreateWebhook),
        ("ListWebhooks", Action::ListWebhooks),
        ("GetWebhook", Action::GetWebhook),
        ("UpdateWebhook", Action::UpdateWebhook),
        ("DeleteWebhook", Action::DeleteWebhook),
        ("RotateWebhookSecret", Action::RotateWebhookSecret),
        ("ListDeliveries", Action::ListDeliveries),
        ("GetWebhookStats", Action::GetWebhookStats),
        ("GetDelivery", Action::GetDelivery),
        ("RetryDelivery", Action::RetryDelivery),
        ("RecoverWebhook", Action::RecoverWebhook),
        ("SendTestEvent", Action::SendTestEvent),
        ("TestWebhookFilter", Action::TestWebhookFilter),
        ("ListEventTypes", Action::ListEventTypes),
        ("GetEventType", Action::GetEventType),
        ("CreateEventType", Action::CreateEventType),
        ("UpdateEventType", Action::UpdateEventType),
        ("PublishEvent", Action::PublishEvent),
        ("CreatePortalLink", Action::CreatePortalLink),
    ];

    /// The action of the RPC called `rpc` (`CreateWebhook`), if any.
    pub fn named(rpc: &str) -> Option<Action> {
        Self::NAMED
            .iter()
            .find(|(name, _)| *name == rpc)
            .map(|(_, action)| *action)
    }
}

/// The scope of a platform's own backend (a client-credentials token: `sub`
/// and scopes, no organization or role): it may do what an owner or admin
/// may, in every organization. It does not imply any other scope.
pub const PLATFORM_SCOPE: &str = "webhooks:admin";

/// What an action needs.
enum Needs {
    /// A verified token, whatever it says.
    Token,
    /// One of these roles in the organization acted on, or
    /// [`PLATFORM_SCOPE`] on a token of the identity provider, which stands
    /// for every role in every organization.
    Role(&'static [Role]),
    /// This scope, whatever the organization (service-to-service calls).
    Scope(&'static str),
}

/// What an action needs, and what a refused caller is told.
struct Rule {
    needs: Needs,
    denied: &'static str,
    /// Whether a portal token may do it, and if not what its caller is told.
    portal: Portal,
}

/// What a caller holding a portal token may do.
#[derive(Clone, Copy)]
enum Portal {
    /// What the rule's role or scope allows.
    Allowed,
    /// Nothing, whatever its role: the message says why.
    Refused(&'static str),
}

/// The access table: add a row for a new action, not an `if`.
fn rule(action: Action) -> Rule {
    const OWNER_ADMIN: &[Role] = &[Role::Owner, Role::Admin];
    const MANAGE: Rule = Rule {
        needs: Needs::Role(OWNER_ADMIN),
        denied: "only owners and admins can manage webhooks",
        portal: Portal::Allowed,
    };
    match action {
        Action::CreateWebhook => Rule {
            needs: Needs::Role(OWNER_ADMIN),
            denied: "only owners and admins can create webhooks",
            portal: Portal::Allowed,
        },
        Action::ListWebhooks => MANAGE,
        Action::GetWebhook => MANAGE,
        Action::UpdateWebhook => MANAGE,
        Action::DeleteWebhook => MANAGE,
        Action::RotateWebhookSecret => MANAGE,
        Action::ListDeliveries => MANAGE,
        // What ListDeliveries shows, counted.
        Action::GetWebhookStats => MANAGE,
        Action::GetDelivery => MANAGE,
        Action::RetryDelivery => MANAGE,
        Action::RecoverWebhook => MANAGE,
        Action::SendTestEvent => MANAGE,
        // Shows what GetWebhook shows, evaluated; nothing is stored.
        Action::TestWebhookFilter => MANAGE,
        // The catalogue is the installation's, not an organization's:
        // anyone may read it, only the platform writes it.
        Action::ListEventTypes | Action::GetEventType => Rule {
            needs: Needs::Token,
            denied: "",
            portal: Portal::Allowed,
        },
        Action::CreateEventType | Action::UpdateEventType => Rule {
            needs: Needs::Scope("event-types:write"),
            denied: "changing the event catalogue needs a token with the event-types:write scope",
            portal: Portal::Refused("a portal link cannot change the event catalogue"),
        },
        Action::PublishEvent => Rule {
            needs: Needs::Scope("events:publish"),
            denied: "publishing events needs a token with the events:publish scope",
            portal: Portal::Refused("a portal link cannot publish events"),
        },
        // A portal token that could make portal links would extend itself
        // for ever.
        Action::CreatePortalLink => Rule {
            needs: Needs::Role(OWNER_ADMIN),
            denied: "only owners and admins can create portal links",
            portal: Portal::Refused("a portal link cannot create portal links"),
        },
    }
}

/// A caller may not perform an action; the message is safe to show them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub Cow<'static, str>);

/// Allows `action` on `organization` when the caller has what the table
/// asks: a role in that very organization (or the platform scope), or a
/// scope.
pub fn authorize(
    caller: &Caller,
    action: Action,
    organization: OrganizationId,
) -> Result<(), Denied> {
    check(caller, action, Some(organization))
}

/// Checks what can be checked before the rest of a request is read or
/// validated: a scope rule and a refusal of portal tokens fully; a role
/// rule fully when the organization is known, and otherwise (`None`: not
/// read yet, or not a valid id, which validation then reports) as far as
/// the token alone tells: a caller whose role is none of the rule's, in
/// whatever organization, is refused; a platform token goes on.
pub fn authorize_early(
    caller: &Caller,
    action: Action,
    organization: Option<OrganizationId>,
) -> Result<(), Denied> {
    check(caller, action, organization)
}

/// The rule of `action` applied to `caller` in `organization` (`None`: not
/// known yet).
fn check(
    caller: &Caller,
    action: Action,
    organization: Option<OrganizationId>,
) -> Result<(), Denied> {
    let rule = rule(action);
    refuse_portal(caller, &rule)?;
    if rule.needs.met_by(caller, organization) {
        return Ok(());
    }
    // An owner or admin of another organization: the organization is the
    // cause, not the role.
    if let (Needs::Role(roles), Some(asked), Some(member)) =
        (&rule.needs, organization, caller.membership)
        && roles.contains(&member.role)
        && member.organization_id != asked
    {
        return Err(Denied(
            format!(
                "this token is for organization {}, not {asked}",
                member.organization_id
            )
            .into(),
        ));
    }
    Err(Denied(rule.denied.into()))
}

impl Needs {
    /// Whether `caller` has what is needed in `organization`; when that is
    /// not known yet, a role in any organization (or the platform scope)
    /// will do for now.
    fn met_by(&self, caller: &Caller, organization: Option<OrganizationId>) -> bool {
        match *self {
            Needs::Token => true,
            Needs::Role(roles) => {
                is_platform(caller)
                    || caller.membership.is_some_and(|m| {
                        roles.contains(&m.role)
                            && organization.is_none_or(|org| org == m.organization_id)
                    })
            }
            Needs::Scope(scope) => holds(caller, scope),
        }
    }
}

/// Whether `caller` is a platform's backend: a token of the identity
/// provider holding [`PLATFORM_SCOPE`]. Never a portal token: we mint those
/// for one organization, without scopes, and whatever one carried it must
/// not speak for every organization.
fn is_platform(caller: &Caller) -> bool {
    match caller.credential {
        Credential::IdentityToken => holds(caller, PLATFORM_SCOPE),
        Credential::PortalLink => false,
    }
}

/// Whether `caller`'s token names `scope` (exactly; scopes have no case
/// folding and no hierarchy).
fn holds(caller: &Caller, scope: &str) -> bool {
    caller.scopes.iter().any(|s| s == scope)
}

/// Refuses a portal token the rule keeps it from, whatever its role.
fn refuse_portal(caller: &Caller, rule: &Rule) -> Result<(), Denied> {
    match (caller.credential, rule.portal) {
        (Credential::PortalLink, Portal::Refused(message)) => Err(Denied(message.into())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
