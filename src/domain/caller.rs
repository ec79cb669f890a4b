//! The caller a verified token describes: who they are, their role in an
//! organization or their scopes, and what they proved it with.

use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::OrganizationId;

/// A caller's role in the organization its token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    /// The most powerful of `roles`: an owner may do all an admin may, an
    /// admin all a member may.
    pub fn highest(roles: impl IntoIterator<Item = Role>) -> Option<Role> {
        roles.into_iter().max_by_key(|role| match role {
            Role::Member => 0,
            Role::Admin => 1,
            Role::Owner => 2,
        })
    }
}

/// `OWNER`, `ADMIN` or `MEMBER`, in any case: identity providers write
/// `owner` or `Admin` as often as not.
impl FromStr for Role {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        [
            ("OWNER", Role::Owner),
            ("ADMIN", Role::Admin),
            ("MEMBER", Role::Member),
        ]
        .into_iter()
        .find(|(name, _)| s.eq_ignore_ascii_case(name))
        .map(|(_, role)| role)
        .ok_or(())
    }
}

/// A person's place in an organization, from their token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    /// The organization the token speaks for.
    pub organization_id: OrganizationId,
    /// The caller's role in it.
    pub role: Role,
}

/// The authenticated caller of an RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's `sub`: who is calling.
    pub subject: String,
    /// Present on tokens of people (`org_id` and `role` claims).
    pub membership: Option<Membership>,
    /// OAuth-style scopes (`scope` claim), held by internal services.
    pub scopes: Vec<String>,
    /// What the caller proved who they are with.
    pub credential: Credential,
    /// When the token stops being valid (its `exp`, whole seconds): every
    /// accepted token has one. Whatever acts later on the caller's behalf
    /// (a portal link) ends by then.
    pub expires_at: DateTime<Utc>,
}

/// The kind of token a caller presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A token of the identity provider (or a development token).
    IdentityToken,
    /// A portal token from a portal link: the console acting for an
    /// organization's admin for a little while.
    PortalLink,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_parsed_whatever_their_case_and_nothing_else() {
        assert_eq!("OWNER".parse(), Ok(Role::Owner));
        assert_eq!("Admin".parse(), Ok(Role::Admin));
        assert_eq!("member".parse(), Ok(Role::Member));
        assert!("ROOT".parse::<Role>().is_err());
        assert!("OWNERS".parse::<Role>().is_err());
        assert!(" OWNER".parse::<Role>().is_err());
        assert!("".parse::<Role>().is_err());
    }

    #[test]
    fn the_highest_role_is_the_most_powerful_one() {
        assert_eq!(
            Role::highest([Role::Member, Role::Owner, Role::Admin]),
            Some(Role::Owner)
        );
        assert_eq!(
            Role::highest([Role::Member, Role::Admin]),
            Some(Role::Admin)
        );
        assert_eq!(Role::highest([Role::Member]), Some(Role::Member));
        assert_eq!(Role::highest([]), None);
    }
}
