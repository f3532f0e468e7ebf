//! Webhooks' rules: what a subscription's target may be, which changes it receives, how a
//! message is signed (Standard Webhooks 1.0), when a failed one is tried again, and how its
//! signing secret is sealed at rest.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit as _};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::Sha256;

use super::audit::{AuditEntity, ChangeType};
use super::auth::Role;
use crate::text_enum;

text_enum! {
    /// Where a message stands: waiting to be sent (again), delivered (a 2xx), or given up
    /// after its last retry.
    MessageState {
        Pending = "pending": "待发送",
        Delivered = "delivered": "已送达",
        Failed = "failed": "已放弃",
    }
}

/// The type of the message `POST /webhooks/{id}/test` sends.
pub const TEST_EVENT: &str = "webhook.test";

/// The longest target URL accepted.
pub const MAX_URL_LEN: usize = 2000;

/// A subscription's target, parsed: `http` or `https`, a host, no credentials or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: url::Url,
}

impl Endpoint {
    pub fn parse(raw: &str) -> Result<Endpoint, String> {
        if raw.len() > MAX_URL_LEN {
            return Err(format!("must be at most {MAX_URL_LEN} characters"));
        }
        let url = url::Url::parse(raw).map_err(|e| format!("is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must be an http or https URL".into());
        }
        if url.host().is_none() {
            return Err("must name a host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry a user name or password".into());
        }
        if url.fragment().is_some() {
            return Err("must not have a #fragment".into());
        }
        Ok(Endpoint { url })
    }

    /// The host's address when the URL names one literally (no name to resolve).
    pub fn literal_address(&self) -> Option<IpAddr> {
        match self.url.host()? {
            url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
            url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
            url::Host::Domain(_) => None,
        }
    }
}

/// Whether an address may be a webhook's target: not loopback, private, shared (carrier NAT),
/// link-local (where cloud metadata services answer), multicast, unspecified, broadcast,
/// documentation or reserved; IPv6 forms that embed an IPv4 address are judged by it.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => is_public_v4(a),
        IpAddr::V6(a) => is_public_v6(a),
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let [o1, o2, o3, _] = a.octets();
    let shared = o1 == 100 && (64..128).contains(&o2);
    let benchmarking = o1 == 198 && (o2 == 18 || o2 == 19);
    let protocol_assignments = o1 == 192 && o2 == 0 && o3 == 0;
    let documentation = matches!((o1, o2, o3), (192, 0, 2) | (198, 51, 100) | (203, 0, 113));
    !(a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_multicast()
        || a.is_unspecified()
        || a.is_broadcast()
        || o1 == 0
        || o1 >= 240
        || shared
        || benchmarking
        || protocol_assignments
        || documentation)
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    if let Some(v4) = a.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = a.segments();
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address that is reached.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    let unique_local = (s[0] & 0xfe00) == 0xfc00;
    let link_local = (s[0] & 0xffc0) == 0xfe80;
    let site_local = (s[0] & 0xffc0) == 0xfec0;
    let documentation = s[0] == 0x2001 && s[1] == 0x0db8;
    // ::a.b.c.d (IPv4-compatible, deprecated) and the discard prefix.
    let compatible = s[..6] == [0, 0, 0, 0, 0, 0];
    let discard = s[0] == 0x0100 && s[1..4] == [0, 0, 0];
    !(a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        || unique_local
        || link_local
        || site_local
        || documentation
        || compatible
        || discard)
}

/// Whose changes a subscription's owner may hear of, as the feed decides: the owner's role and
/// its city or county, read as they are when the change is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub role: Role,
    pub city_id: Option<i32>,
    pub county_id: Option<i32>,
}

impl Owner {
    /// Whether the owner may subscribe at all: administrators (of the deployment or of a city)
    /// and integration clients.
    pub fn may_subscribe(&self) -> bool {
        match self.role {
            Role::Admin => true,
            Role::CityAdmin => self.city_id.is_some(),
            Role::Integration => self.county_id.is_some(),
            Role::CountyOfficer | Role::Viewer => false,
        }
    }

    /// Whether a change of `event` is the owner's to hear of: an administrator's, any; a city
    /// administrator's, its city's (accounts included); an integration client's, its own
    /// county's (never accounts').
    pub fn may_hear(&self, event: &EventPlace) -> bool {
        match self.role {
            Role::Admin => true,
            Role::CityAdmin => self.city_id.is_some() && event.city_id == self.city_id,
            Role::Integration => {
                self.county_id.is_some()
                    && event.county_id == self.county_id
                    && !event.entity.is_account()
            }
            Role::CountyOfficer | Role::Viewer => false,
        }
    }
}

/// What a subscription's match depends on, of one change.
#[derive(Debug, Clone, Copy)]
pub struct EventPlace {
    pub change: ChangeType,
    pub entity: AuditEntity,
    pub county_id: Option<i32>,
    pub city_id: Option<i32>,
}

/// What a subscription asks for.
#[derive(Debug, Clone)]
pub struct Interest {
    /// None for every type.
    pub types: Option<Vec<ChangeType>>,
    pub city_id: Option<i32>,
    pub county_id: Option<i32>,
}

impl Interest {
    /// Whether the subscription receives `event`: one of its types, within its filters, and
    /// the owner's to hear of.
    pub fn receives(&self, owner: &Owner, event: &EventPlace) -> bool {
        let typed = self
            .types
            .as_ref()
            .is_none_or(|t| t.contains(&event.change));
        let in_city = self.city_id.is_none_or(|c| event.city_id == Some(c));
        let in_county = self.county_id.is_none_or(|c| event.county_id == Some(c));
        typed && in_city && in_county && owner.may_hear(event)
    }
}

/// HMAC-SHA256 keyed with `key` (any length).
fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    let Ok(mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        unreachable!("HMAC takes a key of any length")
    };
    mac
}

/// A signing secret: `whsec_` and the base64 of its bytes, as Standard Webhooks writes it.
#[derive(Clone)]
pub struct SigningSecret(Vec<u8>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(***)")
    }
}

impl SigningSecret {
    /// 32 random bytes.
    pub fn generate() -> SigningSecret {
        let mut bytes = vec![0u8; 32];
        rand::rng().fill(&mut bytes[..]);
        SigningSecret(bytes)
    }

    pub fn parse(text: &str) -> Result<SigningSecret, String> {
        let b64 = text
            .strip_prefix("whsec_")
            .ok_or("a signing secret starts with whsec_")?;
        let bytes = BASE64
            .decode(b64)
            .map_err(|_| "a signing secret is whsec_ and base64".to_string())?;
        if bytes.len() < 24 {
            return Err("a signing secret has at least 24 bytes".into());
        }
        Ok(SigningSecret(bytes))
    }

    /// As shown once to the subscriber.
    pub fn expose(&self) -> String {
        format!("whsec_{}", BASE64.encode(&self.0))
    }

    /// `v1,<base64 of HMAC-SHA256 over "id.timestamp.body">`.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = hmac_sha256(&self.0);
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: a signature by each secret that signs now, space-separated.
pub fn signature_header(
    secrets: &[SigningSecret],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|s| s.sign(msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The key that seals signing secrets in the database (ChaCha20-Poly1305): a database copy
/// without the key holds no usable secret.
#[derive(Clone)]
pub struct SealingKey([u8; 32]);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(***)")
    }
}

const SEALED_PREFIX: &str = "sealed:v1:";

impl SealingKey {
    /// A key derived from secret material of any length (HMAC-SHA256 under a fixed label).
    pub fn derive(material: &[u8]) -> SealingKey {
        let mut mac = hmac_sha256(material);
        mac.update(b"shuangbai webhook signing secrets v1");
        let mut key = [0u8; 32];
        key.copy_from_slice(&mac.finalize().into_bytes());
        SealingKey(key)
    }

    pub fn seal(&self, secret: &SigningSecret) -> String {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.0));
        let mut nonce = [0u8; 12];
        rand::rng().fill(&mut nonce);
        let Ok(sealed) = cipher.encrypt(Nonce::from_slice(&nonce), secret.0.as_slice()) else {
            unreachable!("encrypting a short secret in memory cannot fail")
        };
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!("{SEALED_PREFIX}{}", BASE64.encode(out))
    }

    /// The secret a sealed text holds; an error when it was sealed with another key.
    pub fn open(&self, sealed: &str) -> Result<SigningSecret, String> {
        let bad = || "the signing secret cannot be opened with this deployment's key".to_string();
        let raw = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b| BASE64.decode(b).ok())
            .ok_or_else(bad)?;
        if raw.len() < 12 {
            return Err(bad());
        }
        let (nonce, body) = raw.split_at(12);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.0));
        cipher
            .decrypt(Nonce::from_slice(nonce), body)
            .map(SigningSecret)
            .map_err(|_| bad())
    }
}

/// How long to wait after each failed attempt before the next; past the last, the message is
/// given up. Written `5s,5m,30m,2h,5h,10h,10h` (units `ms`, `s`, `m`, `h`, `d`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(pub Vec<Duration>);

impl Default for RetrySchedule {
    fn default() -> Self {
        let m = 60;
        let h = 60 * m;
        RetrySchedule(
            [5, 5 * m, 30 * m, 2 * h, 5 * h, 10 * h, 10 * h]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
        )
    }
}

impl std::str::FromStr for RetrySchedule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let delays = s
            .split(',')
            .map(|part| {
                let part = part.trim();
                let split = part
                    .find(|c: char| !c.is_ascii_digit())
                    .ok_or_else(|| format!("{part:?} has no unit (ms, s, m, h or d)"))?;
                let (n, unit) = part.split_at(split);
                let n: u64 = n.parse().map_err(|_| format!("{part:?} is not a number"))?;
                let ms = match unit {
                    "ms" => 1,
                    "s" => 1000,
                    "m" => 60_000,
                    "h" => 3_600_000,
                    "d" => 86_400_000,
                    _ => return Err(format!("{part:?}: the unit is ms, s, m, h or d")),
                };
                n.checked_mul(ms)
                    .filter(|&ms| ms <= 30 * 86_400_000)
                    .map(Duration::from_millis)
                    .ok_or_else(|| format!("{part:?} is longer than 30 days"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if delays.len() > 20 {
            return Err("at most 20 retries".into());
        }
        Ok(RetrySchedule(delays))
    }
}

impl RetrySchedule {
    /// The wait before the next attempt after `failed` attempts have failed; none when the
    /// message is to be given up.
    pub fn after(&self, failed: u32) -> Option<Duration> {
        let index = usize::try_from(failed).ok()?.checked_sub(1)?;
        self.0.get(index).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification (and its libraries' tests).
        let secret =
            SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_generated_secret_reads_back_and_is_sealed_only_for_its_key() {
        let secret = SigningSecret::generate();
        let text = secret.expose();
        assert!(text.starts_with("whsec_"));
        assert_eq!(SigningSecret::parse(&text).expect("parses").0, secret.0);
        let key = SealingKey::derive(b"one deployment");
        let sealed = key.seal(&secret);
        assert!(
            !sealed.contains(&text[6..]),
            "the sealed text hides the secret"
        );
        assert_eq!(key.open(&sealed).expect("opens").0, secret.0);
        assert!(SealingKey::derive(b"another").open(&sealed).is_err());
        assert!(key.open("whsec_plain").is_err());
    }

    #[test]
    fn private_loopback_link_local_and_metadata_addresses_are_not_targets() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
        ] {
            let ip: IpAddr = bad.parse().expect("address");
            assert!(!is_public(ip), "{bad} must be refused");
        }
        for good in ["8.8.8.8", "203.119.1.1", "2400:3200::1", "::ffff:8.8.8.8"] {
            let ip: IpAddr = good.parse().expect("address");
            assert!(is_public(ip), "{good} is public");
        }
    }

    #[test]
    fn an_endpoint_is_an_http_url_with_a_host_and_no_credentials() {
        assert!(Endpoint::parse("https://sys.example.gov.cn/hooks?x=1").is_ok());
        assert_eq!(
            Endpoint::parse("http://127.0.0.1:9000/h")
                .expect("url")
                .literal_address(),
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
        for bad in [
            "ftp://example.com/",
            "not a url",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "file:///etc/passwd",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        assert!(Endpoint::parse(&format!("https://e.com/{}", "a".repeat(MAX_URL_LEN))).is_err());
    }

    #[test]
    fn the_schedule_reads_units_and_gives_up_after_its_last_wait() {
        let s: RetrySchedule = "5s,5m,30m,2h,5h,10h,10h".parse().expect("schedule");
        assert_eq!(s, RetrySchedule::default());
        assert_eq!(s.after(1), Some(Duration::from_secs(5)));
        assert_eq!(s.after(7), Some(Duration::from_secs(36_000)));
        assert_eq!(s.after(8), None);
        assert_eq!(s.after(0), None);
        let fast: RetrySchedule = "100ms,1s".parse().expect("schedule");
        assert_eq!(fast.after(1), Some(Duration::from_millis(100)));
        for bad in ["5", "5x", "s", "99999d"] {
            assert!(bad.parse::<RetrySchedule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_subscription_receives_its_types_within_its_filters_and_its_owners_rights() {
        let station = EventPlace {
            change: ChangeType::StationCreate,
            entity: AuditEntity::Station,
            county_id: Some(5),
            city_id: Some(2),
        };
        let user = EventPlace {
            change: ChangeType::UserCreate,
            entity: AuditEntity::User,
            county_id: Some(5),
            city_id: Some(2),
        };
        let all = Interest {
            types: None,
            city_id: None,
            county_id: None,
        };
        let admin = Owner {
            role: Role::Admin,
            city_id: None,
            county_id: None,
        };
        let city = Owner {
            role: Role::CityAdmin,
            city_id: Some(2),
            county_id: None,
        };
        let other_city = Owner {
            city_id: Some(3),
            ..city
        };
        let script = Owner {
            role: Role::Integration,
            city_id: None,
            county_id: Some(5),
        };
        assert!(all.receives(&admin, &station) && all.receives(&admin, &user));
        assert!(all.receives(&city, &station) && all.receives(&city, &user));
        assert!(!all.receives(&other_city, &station));
        assert!(all.receives(&script, &station) && !all.receives(&script, &user));
        let updates_only = Interest {
            types: Some(vec![ChangeType::StationUpdate]),
            ..all.clone()
        };
        assert!(!updates_only.receives(&admin, &station));
        let county_7 = Interest {
            county_id: Some(7),
            ..all
        };
        assert!(!county_7.receives(&admin, &station));
        let officer = Owner {
            role: Role::CountyOfficer,
            ..script
        };
        assert!(!officer.may_subscribe() && !officer.may_hear(&station));
    }
}
