//! Accounts: roles, usernames, passwords.

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::text_enum;

text_enum! {
    /// What a caller may do: `admin` 管理员 (the province's department, owner of the whole
    /// deployment: everything), `city_admin` 市级管理员 (a city bureau: what `admin` may do, within
    /// its city), `county_officer` 县级经办人 and `integration` 县级接口 (read everything
    /// non-personal and their own county's personal data; write only their own county), `viewer`
    /// 查看者 (read only, personal data masked).
    Role {
        Admin = "admin": "管理员",
        CityAdmin = "city_admin": "市级管理员",
        CountyOfficer = "county_officer": "县级经办人",
        Integration = "integration": "县级接口",
        Viewer = "viewer": "查看者",
    }
}

impl Role {
    /// County officers and integration clients act for exactly one county; others for none.
    pub fn is_county_bound(self) -> bool {
        matches!(self, Role::CountyOfficer | Role::Integration)
    }
}

pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 256;

/// Usernames: 3 to 64 of `a-z 0-9 . _ -`, compared without regard to case (stored lower-cased).
pub fn parse_username(raw: &str) -> Result<String, String> {
    let name = raw.trim().to_lowercase();
    if !(3..=64).contains(&name.len()) {
        return Err("must be 3 to 64 characters".into());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err("may contain only letters, digits, '.', '_' and '-'".into());
    }
    Ok(name)
}

/// Common passwords (about 6,500 of 12 or more characters), shipped in the repository: see the
/// file's header.
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_PASSWORDS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// Whether a password is on the list of common ones (ignoring case and surrounding spaces).
pub fn is_common_password(password: &str) -> bool {
    common_passwords().contains(password.trim().to_lowercase().as_str())
}

/// 12 to 256 characters, and not one of the common passwords.
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < PASSWORD_MIN_CHARS {
        return Err(format!("must be at least {PASSWORD_MIN_CHARS} characters"));
    }
    if n > PASSWORD_MAX_CHARS {
        return Err(format!("must be at most {PASSWORD_MAX_CHARS} characters"));
    }
    if is_common_password(password) {
        return Err("is one of the most common passwords; choose another".into());
    }
    Ok(())
}

/// A county-bound role needs a county; the others must not have one.
pub fn check_role_county(role: Role, county_id: Option<i32>) -> Result<(), String> {
    match (role.is_county_bound(), county_id) {
        (true, None) => Err(format!("required for the role {role}")),
        (false, Some(_)) => Err(format!("must be absent for the role {role}")),
        _ => Ok(()),
    }
}

/// A city administrator needs a city; the others must not have one.
pub fn check_role_city(role: Role, city_id: Option<i32>) -> Result<(), String> {
    match (role == Role::CityAdmin, city_id) {
        (true, None) => Err(format!("required for the role {role}")),
        (false, Some(_)) => Err(format!("must be absent for the role {role}")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_case_insensitive_and_plain() {
        assert_eq!(parse_username(" Li.Wei "), Ok("li.wei".to_string()));
        assert!(parse_username("ab").is_err());
        assert!(parse_username("李伟").is_err());
        assert!(parse_username("a b c").is_err());
    }

    #[test]
    fn passwords_have_a_minimum_length() {
        assert!(check_password("short").is_err());
        assert!(check_password("long enough pass").is_ok());
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for common in [
            "password1234",
            "Password1234",
            "QWERTYUIOP12",
            "1qaz2wsx3edc",
            "woaini1314520",
            " administrator ",
        ] {
            assert!(check_password(common).is_err(), "{common}");
        }
        assert!(common_passwords().len() > 5000);
        assert!(common_passwords()
            .iter()
            .all(|p| p.chars().count() >= PASSWORD_MIN_CHARS));
        assert!(check_password("correct horse battery staple").is_ok());
    }

    #[test]
    fn only_county_roles_carry_a_county() {
        assert!(check_role_county(Role::CountyOfficer, Some(1)).is_ok());
        assert!(check_role_county(Role::Integration, None).is_err());
        assert!(check_role_county(Role::Viewer, Some(1)).is_err());
        assert!(check_role_county(Role::Admin, None).is_ok());
        assert!(check_role_county(Role::CityAdmin, Some(1)).is_err());
    }

    #[test]
    fn only_city_admins_carry_a_city() {
        assert!(check_role_city(Role::CityAdmin, Some(1)).is_ok());
        assert!(check_role_city(Role::CityAdmin, None).is_err());
        assert!(check_role_city(Role::CountyOfficer, Some(1)).is_err());
        assert!(check_role_city(Role::Admin, None).is_ok());
    }
}
