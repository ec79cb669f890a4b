//! Who may do what: the caller a verified token describes, and one table of
//! which roles may perform each action.

use std::str::FromStr;

use super::OrganizationId;

/// A caller's role in the organization its token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl FromStr for Role {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "OWNER" => Ok(Role::Owner),
            "ADMIN" => Ok(Role::Admin),
            "MEMBER" => Ok(Role::Member),
            _ => Err(()),
        }
    }
}

/// The authenticated caller of an RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's `sub`: who is calling.
    pub subject: String,
    /// The organization the token speaks for.
    pub organization_id: OrganizationId,
    /// The caller's role in that organization.
    pub role: Role,
}

/// Something a caller asks to do in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreateWebhook,
}

/// The roles allowed to perform an action, and what a refused caller is told.
struct Rule {
    roles: &'static [Role],
    denied: &'static str,
}

/// The role table: add a row for a new action, not an `if`.
fn rule(action: Action) -> Rule {
    match action {
        Action::CreateWebhook => Rule {
            roles: &[Role::Owner, Role::Admin],
            denied: "only owners and admins can create webhooks",
        },
    }
}

/// A caller may not perform an action; the message is safe to show them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub &'static str);

/// Allows `action` in `organization` when the caller's token speaks for that
/// organization with a role the table admits.
pub fn authorize(
    caller: &Caller,
    action: Action,
    organization: OrganizationId,
) -> Result<(), Denied> {
    let rule = rule(action);
    if caller.organization_id == organization && rule.roles.contains(&caller.role) {
        Ok(())
    } else {
        Err(Denied(rule.denied))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(org: OrganizationId, role: Role) -> Caller {
        Caller {
            subject: "user-1".into(),
            organization_id: org,
            role,
        }
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

    #[test]
    fn roles_are_parsed_exactly() {
        assert_eq!("OWNER".parse(), Ok(Role::Owner));
        assert_eq!("ADMIN".parse(), Ok(Role::Admin));
        assert_eq!("MEMBER".parse(), Ok(Role::Member));
        assert!("owner".parse::<Role>().is_err());
        assert!("ROOT".parse::<Role>().is_err());
    }
}
