//! Who may do what: one table of what each action needs (a role in the
//! organization acted on, a scope, or just a verified token), and the
//! checks made with it. A platform's own backend, with a token of the
//! identity provider holding [`PLATFORM_SCOPE`], meets every role rule in
//! every organization.

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
    GetDelivery,
    RetryDelivery,
    RecoverWebhook,
    SendTestEvent,
    ListEventTypes,
    GetEventType,
    CreateEventType,
    UpdateEventType,
    PublishEvent,
    CreatePortalLink,
}

impl Action {
    /// Every action, each with the name of its RPC.
    const NAMED: [(&'static str, Action); 17] = [
        ("CreateWebhook", Action::CreateWebhook),
        ("ListWebhooks", Action::ListWebhooks),
        ("GetWebhook", Action::GetWebhook),
        ("UpdateWebhook", Action::UpdateWebhook),
        ("DeleteWebhook", Action::DeleteWebhook),
        ("RotateWebhookSecret", Action::RotateWebhookSecret),
        ("ListDeliveries", Action::ListDeliveries),
        ("GetDelivery", Action::GetDelivery),
        ("RetryDelivery", Action::RetryDelivery),
        ("RecoverWebhook", Action::RecoverWebhook),
        ("SendTestEvent", Action::SendTestEvent),
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
        Action::GetDelivery => MANAGE,
        Action::RetryDelivery => MANAGE,
        Action::RecoverWebhook => MANAGE,
        Action::SendTestEvent => MANAGE,
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
pub struct Denied(pub &'static str);

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
        Ok(())
    } else {
        Err(Denied(rule.denied))
    }
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
        (Credential::PortalLink, Portal::Refused(message)) => Err(Denied(message)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Membership;
    use chrono::Utc;

    fn caller(org: OrganizationId, role: Role) -> Caller {
        Caller {
            subject: "user-1".into(),
            membership: Some(Membership {
                organization_id: org,
                role,
            }),
            scopes: vec![],
            credential: Credential::IdentityToken,
            expires_at: Utc::now(),
        }
    }

    fn portal(org: OrganizationId) -> Caller {
        Caller {
            credential: Credential::PortalLink,
            ..caller(org, Role::Admin)
        }
    }

    fn service(scopes: &[&str]) -> Caller {
        Caller {
            subject: "billing-service".into(),
            membership: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            credential: Credential::IdentityToken,
            expires_at: Utc::now(),
        }
    }

    /// A platform's backend: a client-credentials token, no organization.
    fn platform() -> Caller {
        service(&["openid", "webhooks:admin"])
    }

    fn new_org() -> OrganizationId {
        OrganizationId::from_uuid(uuid::Uuid::new_v4())
    }

    /// Every action whose rule asks for a role.
    fn role_actions() -> Vec<Action> {
        let actions: Vec<Action> = Action::NAMED
            .iter()
            .map(|(_, action)| *action)
            .filter(|action| matches!(rule(*action).needs, Needs::Role(_)))
            .collect();
        assert!(actions.contains(&Action::CreatePortalLink), "{actions:?}");
        actions
    }

    /// What `caller` is answered for `action` on `org`: once its id is
    /// read, early with it, early without it.
    fn answers(caller: &Caller, action: Action, org: OrganizationId) -> [Result<(), Denied>; 3] {
        [
            authorize(caller, action, org),
            authorize_early(caller, action, Some(org)),
            authorize_early(caller, action, None),
        ]
    }

    #[test]
    fn a_platform_token_may_do_what_owners_and_admins_may_in_every_organization() {
        for org in [new_org(), new_org()] {
            for action in role_actions() {
                assert_eq!(
                    answers(&platform(), action, org),
                    [(); 3].map(|()| Ok(())),
                    "{action:?}"
                );
            }
        }
    }

    #[test]
    fn the_platform_scope_publishes_nothing_without_events_publish() {
        let org = new_org();
        let refused = Denied("publishing events needs a token with the events:publish scope");
        assert_eq!(
            answers(&platform(), Action::PublishEvent, org),
            [(); 3].map(|()| Err(refused.clone()))
        );
        let both = service(&["webhooks:admin", "events:publish"]);
        assert!(authorize(&both, Action::PublishEvent, org).is_ok());
        assert!(authorize(&both, Action::CreateWebhook, org).is_ok());
    }

    #[test]
    fn another_scope_or_a_portal_token_is_no_platform() {
        let (org, other) = (new_org(), new_org());
        // We mint portal tokens for one organization, without scopes; were
        // one to hold the platform scope, it still would not be one.
        let mut portal = portal(org);
        portal.scopes = vec!["webhooks:admin".into()];
        let outsider = Caller {
            membership: None,
            ..portal.clone()
        };
        let scoped = [
            "events:publish",
            "webhooks:read",
            "webhooks:admin:x",
            "WEBHOOKS:ADMIN",
        ];
        let callers = scoped.map(|scope| service(&[scope]));
        for action in role_actions() {
            for caller in callers.iter().chain([&service(&[]), &outsider]) {
                let answers = answers(caller, action, org);
                assert!(answers.iter().all(Result::is_err), "{caller:?} {action:?}");
            }
            assert!(
                answers(&portal, action, other)[..2]
                    .iter()
                    .all(Result::is_err)
            );
        }
        assert!(authorize(&portal, Action::ListWebhooks, org).is_ok());
        assert_eq!(
            authorize(&portal, Action::CreatePortalLink, org),
            Err(Denied("a portal link cannot create portal links"))
        );
    }

    #[test]
    fn a_portal_token_manages_webhooks_but_makes_no_links_and_publishes_nothing() {
        let org = OrganizationId::from_uuid(uuid::Uuid::new_v4());
        let other = OrganizationId::from_uuid(uuid::Uuid::new_v4());
        assert!(authorize(&portal(org), Action::CreateWebhook, org).is_ok());
        assert!(authorize(&portal(org), Action::ListDeliveries, org).is_ok());
        assert!(authorize(&portal(org), Action::ListWebhooks, other).is_err());
        assert_eq!(
            authorize(&portal(org), Action::CreatePortalLink, org),
            Err(Denied("a portal link cannot create portal links"))
        );
        assert_eq!(
            authorize_early(&portal(org), Action::CreatePortalLink, None),
            Err(Denied("a portal link cannot create portal links"))
        );
        let mut publisher = portal(org);
        publisher.scopes = vec!["events:publish".into()];
        assert_eq!(
            authorize(&publisher, Action::PublishEvent, org),
            Err(Denied("a portal link cannot publish events"))
        );
    }

    #[test]
    fn owners_and_admins_may_create_portal_links_members_may_not() {
        let org = OrganizationId::from_uuid(uuid::Uuid::new_v4());
        assert!(authorize(&caller(org, Role::Owner), Action::CreatePortalLink, org).is_ok());
        assert!(authorize(&caller(org, Role::Admin), Action::CreatePortalLink, org).is_ok());
        assert!(authorize(&caller(org, Role::Member), Action::CreatePortalLink, org).is_err());
    }

    #[test]
    fn publishing_needs_the_scope_not_a_role() {
        let org = OrganizationId::from_uuid(uuid::Uuid::new_v4());
        let publisher = service(&["profile", "events:publish"]);
        assert!(authorize(&publisher, Action::PublishEvent, org).is_ok());
        assert!(authorize(&service(&["events:read"]), Action::PublishEvent, org).is_err());
        assert!(authorize(&caller(org, Role::Owner), Action::PublishEvent, org).is_err());
        assert!(authorize(&publisher, Action::CreateWebhook, org).is_err());
    }

    #[test]
    fn a_missing_scope_is_refused_whatever_the_organization_id() {
        let org = OrganizationId::from_uuid(uuid::Uuid::new_v4());
        let owner = caller(org, Role::Owner);
        assert!(authorize_early(&owner, Action::PublishEvent, None).is_err());
        assert!(authorize_early(&service(&["events:publish"]), Action::PublishEvent, None).is_ok());
        // A role rule waits for a valid organization id to tell owners of
        // one organization from those of another, not to refuse who holds
        // no such role anywhere.
        assert!(authorize_early(&owner, Action::CreateWebhook, None).is_ok());
        let other = OrganizationId::from_uuid(uuid::Uuid::new_v4());
        assert!(authorize_early(&owner, Action::CreateWebhook, Some(other)).is_err());
        assert!(authorize_early(&caller(org, Role::Member), Action::CreateWebhook, None).is_err());
        assert!(authorize_early(&service(&[]), Action::CreateWebhook, None).is_err());
        assert!(authorize_early(&service(&[]), Action::CreateWebhook, Some(org)).is_err());
        assert!(authorize_early(&service(&[]), Action::ListEventTypes, None).is_ok());
    }

    #[test]
    fn anyone_reads_the_catalogue_only_the_scope_writes_it() {
        let org = OrganizationId::from_uuid(uuid::Uuid::new_v4());
        for reader in [caller(org, Role::Member), portal(org), service(&[])] {
            assert!(authorize_early(&reader, Action::ListEventTypes, None).is_ok());
            assert!(authorize_early(&reader, Action::GetEventType, None).is_ok());
        }
        for action in [Action::CreateEventType, Action::UpdateEventType] {
            assert!(authorize_early(&caller(org, Role::Owner), action, None).is_err());
            assert!(authorize_early(&caller(org, Role::Admin), action, Some(org)).is_err());
            assert!(authorize_early(&service(&["events:publish"]), action, None).is_err());
            assert!(authorize_early(&service(&["event-types:write"]), action, None).is_ok());
            let mut link = portal(org);
            link.scopes = vec!["event-types:write".into()];
            assert_eq!(
                authorize_early(&link, action, None),
                Err(Denied("a portal link cannot change the event catalogue"))
            );
        }
    }

    #[test]
    fn every_action_is_named_after_its_rpc() {
        for (name, action) in Action::NAMED {
            assert_eq!(Action::named(name), Some(action));
            assert_eq!(format!("{action:?}"), name);
        }
        assert_eq!(Action::named("Nothing"), None);
    }

    #[test]
    fn owners_and_admins_of_the_organization_may_create_webhooks() {
        let org = OrganizationId::from_uuid(uuid::Uuid::new_v4());
        assert!(authorize(&caller(org, Role::Owner), Action::CreateWebhook, org).is_ok());
        assert!(authorize(&caller(org, Role::Admin), Action::CreateWebhook, org).is_ok());
    }

    #[test]
    fn members_and_other_organizations_may_not() {
        let org = OrganizationId::from_uuid(uuid::Uuid::new_v4());
        let other = OrganizationId::from_uuid(uuid::Uuid::new_v4());
        let denied = Denied("only owners and admins can create webhooks");
        assert_eq!(
            authorize(&caller(org, Role::Member), Action::CreateWebhook, org),
            Err(denied.clone())
        );
        assert_eq!(
            authorize(&caller(other, Role::Owner), Action::CreateWebhook, org),
            Err(denied)
        );
    }
}
