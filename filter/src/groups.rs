//! Which of the user's groups go into the assertion.

use crate::identity::Identity;

/// Applied to every identity before signing. Groups the allow-list does not
/// name are removed; when more than `max_count` remain, all are dropped and
/// `groups_truncated` is set, because a partial list could read as "not a
/// member" to the application.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupsPolicy {
    /// Exact group names kept. With `allow_prefixes`, empty means all.
    pub allow: Vec<String>,
    pub allow_prefixes: Vec<String>,
    pub max_count: Option<usize>,
}

impl GroupsPolicy {
    fn allows(&self, group: &str) -> bool {
        (self.allow.is_empty() && self.allow_prefixes.is_empty())
            || self.allow.iter().any(|allowed| allowed == group)
            || self
                .allow_prefixes
                .iter()
                .any(|prefix| group.starts_with(prefix.as_str()))
    }

    pub fn apply(&self, identity: &mut Identity) {
        identity
            .groups
            .retain(|group| !group.is_empty() && self.allows(group));
        if self
            .max_count
            .is_some_and(|max_count| identity.groups.len() > max_count)
        {
            identity.groups.clear();
            identity.groups_truncated = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_groups(groups: &[&str]) -> Identity {
        Identity {
            sub: "alice".into(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            ..Identity::default()
        }
    }

    fn applied(policy: &GroupsPolicy, groups: &[&str]) -> Identity {
        let mut identity = with_groups(groups);
        policy.apply(&mut identity);
        identity
    }

    #[test]
    fn no_policy_keeps_every_non_empty_group() {
        let identity = applied(&GroupsPolicy::default(), &["a", "", "b"]);
        assert_eq!(identity.groups, vec!["a", "b"]);
        assert!(!identity.groups_truncated);
    }

    #[test]
    fn allow_list_keeps_exact_names_and_prefixes_in_order() {
        let policy = GroupsPolicy {
            allow: vec!["admins".into()],
            allow_prefixes: vec!["team-".into()],
            max_count: None,
        };
        let identity = applied(&policy, &["team-a", "admin", "admins", "xteam-b", "team-"]);
        assert_eq!(identity.groups, vec!["team-a", "admins", "team-"]);
        assert!(!identity.groups_truncated);
    }

    #[test]
    fn too_many_groups_drops_them_all_and_says_so() {
        let policy = GroupsPolicy {
            max_count: Some(2),
            ..GroupsPolicy::default()
        };
        assert_eq!(applied(&policy, &["a", "b"]).groups, vec!["a", "b"]);
        let over = applied(&policy, &["a", "b", "c"]);
        assert!(over.groups.is_empty());
        assert!(over.groups_truncated);
        // Counted after the allow-list.
        let filtered = GroupsPolicy {
            allow_prefixes: vec!["k".into()],
            max_count: Some(1),
            ..GroupsPolicy::default()
        };
        assert_eq!(applied(&filtered, &["a", "b", "k1"]).groups, vec!["k1"]);
    }
}
