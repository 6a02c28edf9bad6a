//! Server-name and admin-login rules (DOMAIN.md §1.7).

/// Admin logins the service refuses (SPEC `administratorLogin`; TF-VAL admin_usernames.go).
/// Logins starting with `pg_` are refused too.
pub const FORBIDDEN_ADMIN_LOGINS: &[&str] =
    &["azure_superuser", "azure_pg_admin", "admin", "administrator", "root", "guest", "public"];

/// What is wrong with a server name, or `None` when the service accepts it: 3–63 characters of
/// lowercase letters, digits and hyphens, not starting or ending with a hyphen (TF-VAL).
pub fn server_name_problem(name: &str) -> Option<String> {
    let length = name.chars().count();
    if !(3..=63).contains(&length) {
        let unit = if length == 1 { "character" } else { "characters" };
        return Some(format!("is {length} {unit} long; server names have 3 to 63"));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
        return Some(format!("contains {bad:?}; only lowercase letters, digits and hyphens are allowed"));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some("starts or ends with a hyphen".to_string());
    }
    None
}

/// What is wrong with an admin login, or `None` when the service accepts it.
pub fn admin_login_problem(login: &str) -> Option<String> {
    if login.is_empty() {
        return Some("is empty".to_string());
    }
    let lower = login.to_ascii_lowercase();
    if FORBIDDEN_ADMIN_LOGINS.contains(&lower.as_str()) {
        return Some(format!("{login:?} is reserved by the service"));
    }
    if lower.starts_with("pg_") {
        return Some("may not start with \"pg_\" (reserved by PostgreSQL)".to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        for ok in ["abc", "pay-main", "a1-b2", &"a".repeat(63)] {
            assert_eq!(server_name_problem(ok), None, "{ok}");
        }
        for bad in ["ab", &"a".repeat(64), "Pay", "pay_main", "-pay", "pay-", "pay.main"] {
            assert!(server_name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn admin_logins() {
        assert_eq!(admin_login_problem("fleetadmin"), None);
        for login in FORBIDDEN_ADMIN_LOGINS {
            assert!(admin_login_problem(login).is_some(), "{login}");
        }
        assert!(admin_login_problem("Admin").is_some());
        assert!(admin_login_problem("pg_owner").is_some());
        assert!(admin_login_problem("").is_some());
    }
}
