//! Where a sign-in comes from — the client's network and device — what a session shows of
//! them, and whether the account has seen that device before (the "new sign-in" email).
//!
//! **A device** is the pair (User-Agent with its digits removed, network): removing the digits
//! keeps the browser family, the OS and the form factor and drops the versions, so a browser
//! update is not a new device; the network is the source address truncated to its /24 (IPv4)
//! or /48 (IPv6) — the part that says where someone is, not who. No User-Agent parser runs on
//! the sign-in path (its cold start matters); only the session listings describe devices
//! ([`describe`], feature `user-agents`).
//!
//! **Seen before**: the account keeps the fingerprints (a hash of the pair, nothing readable)
//! of its last [`MAX_KNOWN_DEVICES`] devices, each with when it was last seen, on the user item
//! itself (`knownDevices`: read by sign-in anyway, deleted with the account). A device unseen
//! for [`KNOWN_DEVICE_SECS`] is new again. A sign-in writes the map only when the device is new
//! or was last seen more than a day ago.

use std::collections::BTreeMap;
use std::net::IpAddr;

use sha2::{Digest as _, Sha256};

use super::items::UserItem;
use crate::store::Update;

/// The longest User-Agent a session keeps (characters); longer ones are cut.
pub const MAX_USER_AGENT_CHARS: usize = 256;
/// Devices an account remembers; a new one past it pushes out the least recently seen.
pub const MAX_KNOWN_DEVICES: usize = 20;
/// A device not seen for 180 days is new again.
pub const KNOWN_DEVICE_SECS: i64 = 180 * 24 * 3600;
/// A known device's "last seen" is written again only after a day (no write per sign-in).
const RESEEN_SECS: i64 = 24 * 3600;

/// The client of a sign-in or a refresh: its source address and User-Agent, as API Gateway
/// reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Client {
    /// The full source address (throttling counts by it; sessions keep only its network).
    pub ip: String,
    /// The User-Agent, without control characters, at most [`MAX_USER_AGENT_CHARS`].
    pub user_agent: Option<String>,
}

impl Client {
    pub fn new(ip: impl Into<String>, user_agent: Option<&str>) -> Self {
        let user_agent = user_agent
            .map(|ua| {
                ua.chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_USER_AGENT_CHARS)
                    .collect::<String>()
                    .trim()
                    .to_owned()
            })
            .filter(|ua| !ua.is_empty());
        Self {
            ip: ip.into(),
            user_agent,
        }
    }

    /// The client of a request: API Gateway's source address and User-Agent.
    pub fn of(req: &lambda_http::Request) -> Self {
        Self::new(
            crate::http::source_ip(req),
            crate::http::user_agent(req).as_deref(),
        )
    }

    /// The network the client is on: `203.0.113.0/24`, `2001:db8:42::/48`.
    pub fn network(&self) -> Option<String> {
        network_of(&self.ip)
    }

    /// The device's fingerprint: what the account remembers (base64url of 96 bits of SHA-256).
    pub fn fingerprint(&self) -> String {
        use base64::Engine as _;
        let coarse: String = self
            .user_agent
            .as_deref()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .collect();
        let mut hash = Sha256::new();
        hash.update(coarse.as_bytes());
        hash.update(b"\n");
        hash.update(self.network().unwrap_or_default().as_bytes());
        let digest = hash.finalize();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..12])
    }
}

/// The /24 of an IPv4 address, the /48 of an IPv6 one (an IPv4-mapped IPv6 address counts as
/// its IPv4 address); `None` for what is not an address.
pub fn network_of(ip: &str) -> Option<String> {
    let ip: IpAddr = ip.trim().parse().ok()?;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    };
    Some(match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
            format!("{prefix}/48")
        }
    })
}

/// Whether the account knows the device, and what the sign-in writes about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sighting {
    /// Not among the account's devices (or not seen for [`KNOWN_DEVICE_SECS`]).
    pub new: bool,
    /// The map as it should be after this sign-in, when it must be written.
    write: Option<Write>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Write {
    /// The account has no map yet: the whole map.
    Whole(BTreeMap<String, i64>),
    /// Set one entry, remove others (pushed out, or expired).
    Entry {
        fingerprint: String,
        removed: Vec<String>,
    },
}

impl Sighting {
    /// The sighting of `client` on `user`'s account at `now` (epoch seconds).
    pub fn of(user: &UserItem, client: &Client, now: i64) -> Self {
        let fingerprint = client.fingerprint();
        let Some(known) = &user.known_devices else {
            return Self {
                new: true,
                write: Some(Write::Whole(BTreeMap::from([(fingerprint, now)]))),
            };
        };
        let live = |seen: i64| now - seen < KNOWN_DEVICE_SECS;
        let last_seen = known.get(&fingerprint).copied().filter(|&at| live(at));
        if last_seen.is_some_and(|at| now - at < RESEEN_SECS) {
            return Self {
                new: false,
                write: None,
            };
        }
        let mut removed: Vec<String> = known
            .iter()
            .filter(|&(fp, &at)| fp != &fingerprint && !live(at))
            .map(|(fp, _)| fp.clone())
            .collect();
        let kept = known.len() - removed.len() - usize::from(known.contains_key(&fingerprint));
        if kept >= MAX_KNOWN_DEVICES {
            // Push out the least recently seen of the others.
            let mut others: Vec<(&String, &i64)> = known
                .iter()
                .filter(|&(fp, &at)| fp != &fingerprint && live(at))
                .collect();
            others.sort_by_key(|&(fp, &at)| (at, fp.clone()));
            removed.extend(
                others
                    .iter()
                    .take(kept + 1 - MAX_KNOWN_DEVICES)
                    .map(|(fp, _)| (*fp).clone()),
            );
        }
        Self {
            new: last_seen.is_none(),
            write: Some(Write::Entry {
                fingerprint,
                removed,
            }),
        }
    }

    /// Whether the sign-in writes the account's device map.
    pub fn writes(&self) -> bool {
        self.write.is_some()
    }

    /// `update` (of the user item) with this sighting's write, if any.
    pub fn apply(&self, update: Update, now: i64) -> Update {
        match &self.write {
            None => update,
            Some(Write::Whole(map)) => update.set(UserItem::KNOWN_DEVICES, map),
            Some(Write::Entry {
                fingerprint,
                removed,
            }) => removed.iter().fold(
                update.set_entry(UserItem::KNOWN_DEVICES, fingerprint, &now),
                |update, fp| update.remove_entry(UserItem::KNOWN_DEVICES, fp),
            ),
        }
    }
}

/// A coarse description of the device of a session, from its User-Agent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// The browser or client family (`Chrome`, `Safari`, `Firefox`…), `Unknown` when the
    /// User-Agent says nothing recognisable.
    #[schema(example = "Firefox")]
    pub browser: String,
    /// The operating system (`Windows 10`, `Mac OSX`, `iPhone`, `Android`…), or `Unknown`.
    #[schema(example = "Mac OSX")]
    pub os: String,
    /// `pc`, `smartphone` (tablets too), `crawler` or `unknown`.
    #[schema(example = "pc")]
    pub kind: String,
}

/// Describes the device of `user_agent`: the browser family, the operating system and the kind
/// of device, read from the tokens every mainstream browser sends (`Chrome/120.0`, `Windows NT
/// 10.0`, `iPhone`, `Mobile`…), in woothee's names. Written here rather than linked: every
/// maintained User-Agent parser is a regex dataset whose `regex` dependency brings its Unicode
/// tables and every engine, 1.4 MB that put the two session listings over #27's 4 MB
/// (BENCHMARKS.md, "What changed the numbers"); a listing needs the family, not the dataset.
#[cfg(feature = "user-agents")]
pub fn describe(user_agent: Option<&str>) -> Device {
    let ua = user_agent.unwrap_or_default();
    let has = |token: &str| ua.contains(token);
    let lower = ua.to_ascii_lowercase();
    let crawler = [
        "bot",
        "crawler",
        "spider",
        "slurp",
        "curl/",
        "wget/",
        "python-requests",
    ]
    .iter()
    .any(|t| lower.contains(t));
    // Most specific first: Edge, Opera and Samsung Internet also say `Chrome/`, Chrome also
    // says `Safari/`.
    let browser = [
        (&["Edg/", "Edge/", "EdgA/", "EdgiOS/"][..], "Edge"),
        (&["OPR/", "Opera"][..], "Opera"),
        (&["SamsungBrowser/"][..], "Samsung Internet"),
        (&["Vivaldi/"][..], "Vivaldi"),
        (&["YaBrowser/"][..], "Yandex Browser"),
        (&["Firefox/", "FxiOS/"][..], "Firefox"),
        (&["Chrome/", "CriOS/"][..], "Chrome"),
        (&["MSIE ", "Trident/"][..], "Internet Explorer"),
        (&["Safari/"][..], "Safari"),
    ]
    .iter()
    .find(|(tokens, _)| tokens.iter().any(|t| has(t)))
    .map(|(_, name)| *name);
    let windows = [
        ("Windows NT 10.0", "Windows 10"),
        ("Windows NT 6.3", "Windows 8.1"),
        ("Windows NT 6.2", "Windows 8"),
        ("Windows NT 6.1", "Windows 7"),
        ("Windows NT 6.0", "Windows Vista"),
        ("Windows NT 5.1", "Windows XP"),
    ]
    .iter()
    .find(|(token, _)| has(token))
    .map(|(_, name)| *name);
    let (os, kind) = if has("iPhone") || has("iPod") {
        (Some("iPhone"), "smartphone")
    } else if has("iPad") {
        (Some("iPad"), "smartphone")
    } else if has("Android") {
        (Some("Android"), "smartphone")
    } else if let Some(version) = windows {
        (Some(version), "pc")
    } else if has("Windows") {
        (Some("Windows UNKNOWN Ver"), "pc")
    } else if has("Mac OS X") || has("Macintosh") {
        (Some("Mac OSX"), "pc")
    } else if has("CrOS") {
        (Some("ChromeOS"), "pc")
    } else if has("Linux") || has("X11") {
        (Some("Linux"), "pc")
    } else {
        (None, "unknown")
    };
    Device {
        browser: browser.unwrap_or("Unknown").to_owned(),
        os: os.unwrap_or("Unknown").to_owned(),
        kind: if crawler { "crawler" } else { kind }.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_the_24_of_ipv4_and_the_48_of_ipv6() {
        assert_eq!(
            network_of("203.0.113.77").as_deref(),
            Some("203.0.113.0/24")
        );
        assert_eq!(
            network_of("2001:db8:42:7::1").as_deref(),
            Some("2001:db8:42::/48")
        );
        assert_eq!(
            network_of("::ffff:198.51.100.9").as_deref(),
            Some("198.51.100.0/24")
        );
        assert_eq!(network_of("not an address"), None);
        assert_eq!(network_of(""), None);
    }

    #[test]
    fn a_browser_update_is_the_same_device_and_another_browser_or_network_is_not() {
        let chrome = |version: &str, ip: &str| {
            Client::new(
                ip,
                Some(&format!(
                    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{version} Safari/537.36"
                )),
            )
        };
        let firefox = Client::new(
            "203.0.113.7",
            Some(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
            ),
        );
        let before = chrome("130.0.0.0", "203.0.113.7").fingerprint();
        assert_eq!(before, chrome("131.0.0.0", "203.0.113.99").fingerprint());
        assert_ne!(before, chrome("131.0.0.0", "198.51.100.7").fingerprint());
        assert_ne!(before, firefox.fingerprint());
    }

    #[test]
    fn user_agents_are_kept_without_control_characters_and_bounded() {
        let long = "a".repeat(1000);
        let client = Client::new("203.0.113.7", Some(&long));
        assert_eq!(
            client.user_agent.as_deref().map(str::len),
            Some(MAX_USER_AGENT_CHARS)
        );
        let sneaky = Client::new("203.0.113.7", Some("curl/8\r\nX-Injected: 1"));
        assert_eq!(sneaky.user_agent.as_deref(), Some("curl/8X-Injected: 1"));
        assert_eq!(Client::new("203.0.113.7", Some(" \t")).user_agent, None);
    }

    fn account(known: Option<BTreeMap<String, i64>>) -> UserItem {
        let mut user: UserItem = serde_json::from_value(serde_json::json!({
            "pk": "USER#01ARZ3NDEKTSV4RRFFQ69G5FAV", "sk": "PROFILE",
            "gsi1pk": "USERS", "gsi1sk": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "gsi2pk": "USERS#active", "gsi2sk": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "email": "ada@example.com", "name": "Ada",
            "roles": ["USER"], "status": "active", "emailVerified": true, "passwordHash": "x",
            "createdAt": "2026-12-07T00:00:00.000Z", "updatedAt": "2026-12-07T00:00:00.000Z",
            "version": 1
        }))
        .expect("a user item");
        user.known_devices = known;
        user
    }

    #[test]
    fn a_device_is_new_until_seen_and_again_after_half_a_year_unseen() {
        let client = Client::new("203.0.113.7", Some("Firefox/133.0"));
        let fp = client.fingerprint();
        let now = 1_800_000_000;
        // Learning: no map yet, the whole map is written.
        let first = Sighting::of(&account(None), &client, now);
        assert!(first.new && first.writes());
        // Seen an hour ago: nothing to write.
        let known = account(Some(BTreeMap::from([(fp.clone(), now - 3600)])));
        assert_eq!(
            Sighting::of(&known, &client, now),
            Sighting {
                new: false,
                write: None
            }
        );
        // Seen two days ago: known, its last sighting written again.
        let stale = account(Some(BTreeMap::from([(fp.clone(), now - 2 * 86_400)])));
        let again = Sighting::of(&stale, &client, now);
        assert!(!again.new && again.writes());
        // Not seen for 180 days: new again.
        let forgotten = account(Some(BTreeMap::from([(fp, now - KNOWN_DEVICE_SECS)])));
        assert!(Sighting::of(&forgotten, &client, now).new);
    }

    #[test]
    fn a_new_device_past_the_cap_pushes_out_the_least_recently_seen_and_expired_ones_go() {
        let now = 1_800_000_000;
        let mut known: BTreeMap<String, i64> = (0..MAX_KNOWN_DEVICES)
            .map(|n| {
                (
                    format!("device-{n:02}"),
                    now - 1000 + i64::try_from(n).unwrap_or(0),
                )
            })
            .collect();
        known.insert("ancient".into(), now - KNOWN_DEVICE_SECS - 1);
        let client = Client::new("198.51.100.1", Some("Safari"));
        let sighting = Sighting::of(&account(Some(known)), &client, now);
        assert!(sighting.new);
        let Some(Write::Entry {
            fingerprint,
            mut removed,
        }) = sighting.write
        else {
            panic!("an entry write: {sighting:?}");
        };
        assert_eq!(fingerprint, client.fingerprint());
        removed.sort();
        assert_eq!(removed, ["ancient", "device-00"]);
    }

    #[cfg(feature = "user-agents")]
    #[test]
    fn mainstream_browsers_are_described_by_family_system_and_kind() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                ("Chrome", "Windows 10", "pc"),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0",
                ("Firefox", "Mac OSX", "pc"),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
                ("Safari", "Mac OSX", "pc"),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
                ("Edge", "Windows 10", "pc"),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
                ("Safari", "iPhone", "smartphone"),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
                ("Chrome", "iPhone", "smartphone"),
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
                ("Chrome", "Android", "smartphone"),
            ),
            (
                "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
                ("Samsung Internet", "Android", "smartphone"),
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
                ("Opera", "Linux", "pc"),
            ),
            (
                "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                ("Chrome", "ChromeOS", "pc"),
            ),
            (
                "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
                ("Internet Explorer", "Windows 7", "pc"),
            ),
            (
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                ("Unknown", "Unknown", "crawler"),
            ),
            ("curl/8.5.0", ("Unknown", "Unknown", "crawler")),
            ("", ("Unknown", "Unknown", "unknown")),
            ("something else entirely", ("Unknown", "Unknown", "unknown")),
        ];
        for (ua, (browser, os, kind)) in cases {
            assert_eq!(
                describe(Some(ua)),
                Device {
                    browser: browser.into(),
                    os: os.into(),
                    kind: kind.into(),
                },
                "{ua}"
            );
        }
        assert_eq!(describe(None).kind, "unknown");
    }
}
