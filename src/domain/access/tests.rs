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
    let refused = Denied("publishing events needs a token with the events:publish scope".into());
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
        Err(Denied("a portal link cannot create portal links".into()))
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
        Err(Denied("a portal link cannot create portal links".into()))
    );
    assert_eq!(
        authorize_early(&portal(org), Action::CreatePortalLink, None),
        Err(Denied("a portal link cannot create portal links".into()))
    );
    let mut publisher = portal(org);
    publisher.scopes = vec!["events:publish".into()];
    assert_eq!(
        authorize(&publisher, Action::PublishEvent, org),
        Err(Denied("a portal link cannot publish events".into()))
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
            Err(Denied(
                "a portal link cannot change the event catalogue".into()
            ))
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
    let denied = Denied("only owners and admins can create webhooks".into());
    assert_eq!(
        authorize(&caller(org, Role::Member), Action::CreateWebhook, org),
        Err(denied.clone())
    );
    // An owner of another organization is told that the organization is
    // the cause, not the role.
    assert_eq!(
        authorize(&caller(other, Role::Owner), Action::CreateWebhook, org),
        Err(Denied(
            format!("this token is for organization {other}, not {org}").into()
        ))
    );
    assert_eq!(
        authorize(&caller(other, Role::Member), Action::CreateWebhook, org),
        Err(denied)
    );
}
