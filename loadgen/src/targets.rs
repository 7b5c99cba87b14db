//! The devices requests are addressed to: read from an inventory file (the CSV that
//! `hubgate serve --inventory` imports), optionally split between Users by registration data,
//! and chosen with a skew so that some hubs are hot.
//!
//! A device belongs to a *hub*: a CHF is its own hub, a meter belongs to the CHF it is
//! associated with, a GPF or PPMID to the hub of the device it is associated with. Hubs are
//! ranked in the order they first appear in the file; each User's devices of one type are
//! listed in hub order and drawn with a Zipf (or uniform) rank, so with Zipf the first
//! premises of each User receive most of its traffic.
//!
//! Only `Commissioned` devices are targets. With a registration file, a User addresses a
//! device when it is registered for one of the device's MPxNs (a CHF: those of its meters) in
//! a role it holds; without one, every User addresses every device.
//!
//! [`generate`] writes a matching inventory and registration file for load-test Users;
//! [`parse_emulated`] and [`write_emulated`] do the same for the premises a gateway emulates
//! (listed in what `hubgate serve` prints at start).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use hubgate_protocol::catalogue::Role;
use hubgate_protocol::hex;

use crate::pick::{RankSampler, Rng, Skew};

/// The device types of the inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceKind {
    /// Electricity smart meter.
    Esme,
    /// Gas smart meter.
    Gsme,
    /// Gas proxy function.
    Gpf,
    /// Communications hub function.
    Chf,
    /// Prepayment interface device.
    Ppmid,
    /// HAN-connected auxiliary load control switch.
    Hcalcs,
    /// In-home display.
    Ihd,
    /// Consumer access device.
    Cad,
}

impl DeviceKind {
    /// From the inventory's `device_type` column.
    pub fn parse(s: &str) -> Option<DeviceKind> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "ESME" => DeviceKind::Esme,
            "GSME" => DeviceKind::Gsme,
            "GPF" => DeviceKind::Gpf,
            "CHF" => DeviceKind::Chf,
            "PPMID" => DeviceKind::Ppmid,
            "HCALCS" => DeviceKind::Hcalcs,
            "IHD" => DeviceKind::Ihd,
            "CAD" => DeviceKind::Cad,
            _ => return None,
        })
    }

    /// As the inventory writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Esme => "ESME",
            DeviceKind::Gsme => "GSME",
            DeviceKind::Gpf => "GPF",
            DeviceKind::Chf => "CHF",
            DeviceKind::Ppmid => "PPMID",
            DeviceKind::Hcalcs => "HCALCS",
            DeviceKind::Ihd => "IHD",
            DeviceKind::Cad => "CAD",
        }
    }
}

/// One device of the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Device ID.
    pub id: [u8; 8],
    /// Type.
    pub kind: DeviceKind,
    /// Status as written.
    pub status: String,
    /// Its own MPxNs (import MPxN, export MPAN).
    pub mpxns: Vec<String>,
    /// The device it is associated with.
    pub associated_with: Option<[u8; 8]>,
}

/// Why the targets could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    /// A file could not be read or a line is wrong.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong (with the line number where there is one).
        reason: String,
    },
}

fn err(path: &Path, reason: impl std::fmt::Display) -> TargetsError {
    TargetsError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn csv_reader(path: &Path) -> Result<csv::Reader<std::fs::File>, TargetsError> {
    let file = std::fs::File::open(path).map_err(|e| err(path, e))?;
    Ok(csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(file))
}

fn column(headers: &csv::StringRecord, name: &str) -> Option<usize> {
    headers.iter().position(|h| h.eq_ignore_ascii_case(name))
}

/// Reads an inventory CSV (the columns `hubgate serve --inventory` takes; only `device_id`,
/// `device_type`, `device_status`, `import_mpxn`, `export_mpan` and `associated_with` are
/// used here).
///
/// # Errors
///
/// [`TargetsError`] naming the line.
pub fn read_inventory(path: &Path) -> Result<Vec<Device>, TargetsError> {
    let mut rd = csv_reader(path)?;
    let headers = rd.headers().map_err(|e| err(path, e))?.clone();
    let need =
        |name: &str| column(&headers, name).ok_or_else(|| err(path, format!("no `{name}` column")));
    let (c_id, c_type) = (need("device_id")?, need("device_type")?);
    let c_status = column(&headers, "device_status");
    let c_import = column(&headers, "import_mpxn");
    let c_export = column(&headers, "export_mpan");
    let c_assoc = column(&headers, "associated_with");
    let mut out = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| err(path, e))?;
        let line = rec.position().map_or(i as u64 + 2, |p| p.line());
        let get = |c: Option<usize>| {
            c.and_then(|c| rec.get(c))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let id_text = get(Some(c_id)).unwrap_or_default();
        let id = hex::parse_eui(id_text).ok_or_else(|| {
            err(
                path,
                format!("line {line}: device_id {id_text:?} is not an EUI-64"),
            )
        })?;
        let type_text = get(Some(c_type)).unwrap_or_default();
        let kind = DeviceKind::parse(type_text).ok_or_else(|| {
            err(
                path,
                format!("line {line}: device_type {type_text:?} is not a device type"),
            )
        })?;
        let associated_with = match get(c_assoc) {
            Some(a) => Some(hex::parse_eui(a).ok_or_else(|| {
                err(
                    path,
                    format!("line {line}: associated_with {a:?} is not an EUI-64"),
                )
            })?),
            None => None,
        };
        out.push(Device {
            id,
            kind,
            status: get(c_status).unwrap_or("Pending").to_string(),
            mpxns: [get(c_import), get(c_export)]
                .into_iter()
                .flatten()
                .map(str::to_string)
                .collect(),
            associated_with,
        });
    }
    Ok(out)
}

/// Registration data as loadgen uses it: MPxN → (party, role) pairs; the role is `None` when
/// the file writes one that is not a DUIS role code (it then counts for any role).
pub type Registration = HashMap<String, HashSet<([u8; 8], Option<Role>)>>;

/// Reads registration data (`mpxn,fuel,role,party,…`): MPxN → the parties registered for it.
///
/// # Errors
///
/// [`TargetsError`].
pub fn read_registration(path: &Path) -> Result<Registration, TargetsError> {
    let mut rd = csv_reader(path)?;
    let headers = rd.headers().map_err(|e| err(path, e))?.clone();
    let c_mpxn = column(&headers, "mpxn").ok_or_else(|| err(path, "no `mpxn` column"))?;
    let c_party = column(&headers, "party").ok_or_else(|| err(path, "no `party` column"))?;
    let c_role = column(&headers, "role");
    let mut out: Registration = HashMap::new();
    for rec in rd.records() {
        let rec = rec.map_err(|e| err(path, e))?;
        let (Some(mpxn), Some(party)) = (rec.get(c_mpxn), rec.get(c_party)) else {
            continue;
        };
        let role = c_role
            .and_then(|c| rec.get(c))
            .and_then(|r| Role::parse(r.trim()));
        if let Some(p) = hex::parse_eui(party.trim()) {
            out.entry(mpxn.trim().to_string())
                .or_default()
                .insert((p, role));
        }
    }
    Ok(out)
}

/// One User's devices of one type, in hub order, and how to draw among them.
type Pool = (Vec<[u8; 8]>, RankSampler);

/// Devices of one type with their hub's rank, before sorting.
type Ranked = BTreeMap<DeviceKind, Vec<(usize, [u8; 8])>>;

/// Each User's devices, by type, in hub order, with a rank sampler.
#[derive(Debug)]
pub struct Targets {
    per_user: Vec<HashMap<DeviceKind, Pool>>,
    hubs: usize,
    devices: usize,
}

impl Targets {
    /// Splits `devices` between `users` (ID and roles; by `registration` when given) and
    /// prepares the samplers.
    pub fn new(
        devices: &[Device],
        registration: Option<&Registration>,
        users: &[([u8; 8], Vec<Role>)],
        skew: Skew,
    ) -> Targets {
        let by_id: HashMap<[u8; 8], &Device> = devices.iter().map(|d| (d.id, d)).collect();
        // The hub of each device, following associations (at most a few hops).
        let hub_of = |d: &Device| -> [u8; 8] {
            let mut cur = d;
            for _ in 0..4 {
                if cur.kind == DeviceKind::Chf {
                    return cur.id;
                }
                match cur.associated_with.and_then(|a| by_id.get(&a)) {
                    Some(next) => cur = next,
                    None => return cur.id,
                }
            }
            cur.id
        };
        let mut hub_rank: HashMap<[u8; 8], usize> = HashMap::new();
        let mut hub_mpxns: HashMap<[u8; 8], Vec<&str>> = HashMap::new();
        let mut hubs = Vec::with_capacity(devices.len());
        for d in devices {
            let h = hub_of(d);
            let n = hub_rank.len();
            hub_rank.entry(h).or_insert(n);
            hub_mpxns
                .entry(h)
                .or_default()
                .extend(d.mpxns.iter().map(String::as_str));
            hubs.push(h);
        }
        let mut per_user: Vec<Ranked> = vec![BTreeMap::new(); users.len()];
        let mut used = 0;
        for (d, hub) in devices.iter().zip(&hubs) {
            if !d.status.eq_ignore_ascii_case("Commissioned") {
                continue;
            }
            // MPxNs that decide who may address it: its own, else its hub's.
            let mut mpxns: Vec<&str> = d.mpxns.iter().map(String::as_str).collect();
            if mpxns.is_empty()
                && let Some(a) = d.associated_with.and_then(|a| by_id.get(&a))
            {
                mpxns.extend(a.mpxns.iter().map(String::as_str));
            }
            if mpxns.is_empty() {
                mpxns.extend(hub_mpxns.get(hub).into_iter().flatten().copied());
            }
            let rank = hub_rank.get(hub).copied().unwrap_or(usize::MAX);
            let mut any = false;
            for (u, (user, roles)) in users.iter().enumerate() {
                let owns = match registration {
                    None => true,
                    Some(reg) => mpxns.iter().any(|m| {
                        reg.get(*m).is_some_and(|parties| {
                            parties.iter().any(|(p, role)| {
                                p == user && role.is_none_or(|r| roles.contains(&r))
                            })
                        })
                    }),
                };
                if owns && let Some(slot) = per_user.get_mut(u) {
                    slot.entry(d.kind).or_default().push((rank, d.id));
                    any = true;
                }
            }
            if any {
                used += 1;
            }
        }
        let per_user = per_user
            .into_iter()
            .map(|kinds| {
                kinds
                    .into_iter()
                    .map(|(k, mut list)| {
                        list.sort_by_key(|(rank, _)| *rank);
                        let ids: Vec<[u8; 8]> = list.into_iter().map(|(_, id)| id).collect();
                        let sampler = RankSampler::new(ids.len(), skew);
                        (k, (ids, sampler))
                    })
                    .collect()
            })
            .collect();
        Targets {
            per_user,
            hubs: hub_rank.len(),
            devices: used,
        }
    }

    /// A device of one of `kinds` for User `user` (an index into the Users given to
    /// [`Targets::new`]): the kind uniformly among those the User has, then the device by rank.
    pub fn pick(&self, user: usize, kinds: &[DeviceKind], rng: &mut Rng) -> Option<[u8; 8]> {
        let mine = self.per_user.get(user)?;
        let have: Vec<&Pool> = kinds.iter().filter_map(|k| mine.get(k)).collect();
        if have.is_empty() {
            return None;
        }
        let (ids, sampler) = have[rng.below(have.len())];
        ids.get(sampler.pick(rng)).copied()
    }

    /// Whether User `user` has a device of one of `kinds`.
    pub fn has(&self, user: usize, kinds: &[DeviceKind]) -> bool {
        self.per_user
            .get(user)
            .is_some_and(|m| kinds.iter().any(|k| m.contains_key(k)))
    }

    /// Hubs in the inventory.
    pub fn hubs(&self) -> usize {
        self.hubs
    }

    /// Commissioned devices some User addresses.
    pub fn devices(&self) -> usize {
        self.devices
    }
}

/// The User ID of load-test User `i` (from 1), as the gateway's local test PKI issues it.
pub fn load_test_user_id(i: u32) -> [u8; 8] {
    let [_, _, hi, lo] = i.to_be_bytes();
    [0x90, 0xb3, 0xd5, 0x1f, 0x50, 0x00, hi, lo]
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The inventory file.
    pub inventory: std::path::PathBuf,
    /// The registration file.
    pub registration: std::path::PathBuf,
    /// Premises written (each a CHF, an ESME, a GSME and a GPF).
    pub premises: usize,
}

/// Most premises [`generate`] writes per User (the MPxN scheme has room for that many).
pub const MAX_PREMISES_PER_USER: u32 = 99_999;
/// Most Users [`generate`] writes for.
pub const MAX_GENERATED_USERS: usize = 9_999;

/// Writes `inventory.csv` and `registration.csv` into `dir`: for each User, `premises`
/// premises, each with a commissioned CHF, ESME, GSME and GPF; the User is registered as
/// import supplier for the MPAN and gas supplier for the MPRN from 2000-01-01.
///
/// Device IDs are `00-DB-<user>-<premises>-<type>` (type `A2` CHF, `A0` ESME, `A1` GSME,
/// `A3` GPF), MPANs `1<user:5><premises:7>`, MPRNs `9<user:4><premises:5>`, with `user` the
/// User's position (from 1).
///
/// # Errors
///
/// [`TargetsError`] when a file cannot be written or the sizes are out of range.
pub fn generate(dir: &Path, users: &[[u8; 8]], premises: u32) -> Result<Generated, TargetsError> {
    if users.is_empty() || users.len() > MAX_GENERATED_USERS {
        return Err(err(
            dir,
            format!("between 1 and {MAX_GENERATED_USERS} Users"),
        ));
    }
    if premises == 0 || premises > MAX_PREMISES_PER_USER {
        return Err(err(
            dir,
            format!("between 1 and {MAX_PREMISES_PER_USER} premises per User"),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    let mut inv = String::from(
        "device_id,device_type,device_status,manufacturer,model,import_mpxn,post_code,address_identifier,associated_with\n",
    );
    let mut reg = String::from("mpxn,fuel,role,party,effective_from,effective_to\n");
    for (u, user) in users.iter().enumerate() {
        let un = u as u32 + 1;
        let party = hex::eui_duis(user);
        for p in 1..=premises {
            let [_, _, uh, ul] = un.to_be_bytes();
            let [_, p2, p1, p0] = p.to_be_bytes();
            let dev = |t: u8| hex::eui_duis(&[0x00, 0xdb, uh, ul, p2, p1, p0, t]);
            let (chf, esme, gsme, gpf) = (dev(0xa2), dev(0xa0), dev(0xa1), dev(0xa3));
            let mpan = format!("1{un:05}{p:07}");
            let mprn = format!("9{un:04}{p:05}");
            let addr = format!("{un}-{p}");
            inv += &format!("{chf},CHF,Commissioned,106C,433100AC,,M22 0RR,{addr},\n");
            inv += &format!("{esme},ESME,Commissioned,AB01,010A030B,{mpan},M22 0RR,{addr},{chf}\n");
            inv += &format!("{gsme},GSME,Commissioned,AB01,020A030B,{mprn},M22 0RR,{addr},{chf}\n");
            inv += &format!("{gpf},GPF,Commissioned,106C,433100AD,,M22 0RR,{addr},{gsme}\n");
            reg += &format!("{mpan},electricity,IS,{party},2000-01-01,\n");
            reg += &format!("{mprn},gas,GS,{party},2000-01-01,\n");
        }
    }
    let inventory = dir.join("inventory.csv");
    let registration = dir.join("registration.csv");
    std::fs::write(&inventory, inv).map_err(|e| err(&inventory, e))?;
    std::fs::write(&registration, reg).map_err(|e| err(&registration, e))?;
    Ok(Generated {
        inventory,
        registration,
        premises: users.len() * premises as usize,
    })
}

/// One premises a gateway emulates, as it lists it at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatedPremises {
    /// The hub (CHF).
    pub hub: [u8; 8],
    /// The electricity meter and its MPAN.
    pub esme: ([u8; 8], String),
    /// The gas meter and its MPRN.
    pub gsme: Option<([u8; 8], String)>,
    /// The supplier its meters trust, when the gateway lists one per premises (its
    /// `emulation.suppliers = "load-test"`); else the one named in the header line.
    pub supplier: Option<[u8; 8]>,
}

/// Reads what `hubgate serve` prints at start about its emulated meters:
/// `emulated meters: … trusting supplier <ID> and network operator <ID>` and one
/// `premises N: hub <ID>, ESME <ID> (MPAN <n>), GSME <ID> (MPRN <n>)[, supplier <ID>]` line per
/// premises.
/// Returns the supplier the meters trust and the premises (empty when none are listed).
pub fn parse_emulated(text: &str) -> (Option<[u8; 8]>, Vec<EmulatedPremises>) {
    let after = |line: &str, key: &str| -> Option<String> {
        line.split_once(key)
            .and_then(|(_, r)| r.split([',', ' ', ')']).find(|w| !w.is_empty()))
            .map(str::to_string)
    };
    let mut supplier = None;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("emulated meters:") {
            supplier = after(line, "trusting supplier ").and_then(|s| hex::parse_eui(&s));
            continue;
        }
        if !line.starts_with("premises ") {
            continue;
        }
        let eui = |key: &str| after(line, key).and_then(|s| hex::parse_eui(&s));
        let (Some(hub), Some(esme), Some(mpan)) =
            (eui("hub "), eui("ESME "), after(line, "(MPAN "))
        else {
            continue;
        };
        let gsme = eui("GSME ").zip(after(line, "(MPRN "));
        out.push(EmulatedPremises {
            hub,
            esme: (esme, mpan),
            gsme,
            supplier: eui("supplier "),
        });
    }
    (supplier, out)
}

/// Writes `inventory.csv` and `registration.csv` into `dir` for emulated premises: each hub,
/// ESME and GSME (commissioned), the premises' own supplier (or else `supplier`) registered
/// as import supplier for the MPANs and gas supplier for the MPRNs (as the gateway registers
/// it).
///
/// # Errors
///
/// [`TargetsError`] when a file cannot be written or there are no premises.
pub fn write_emulated(
    dir: &Path,
    supplier: Option<[u8; 8]>,
    premises: &[EmulatedPremises],
) -> Result<Generated, TargetsError> {
    if premises.is_empty() {
        return Err(err(dir, "no emulated premises listed"));
    }
    if premises.iter().any(|p| p.supplier.or(supplier).is_none()) {
        return Err(err(
            dir,
            "a premises has no supplier (neither on its line nor in the \"emulated meters:\" line)",
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    let mut inv = String::from(
        "device_id,device_type,device_status,manufacturer,model,import_mpxn,associated_with\n",
    );
    let mut reg = String::from("mpxn,fuel,role,party,effective_from,effective_to\n");
    for p in premises {
        let Some(party) = p.supplier.or(supplier) else {
            continue;
        };
        let party = hex::eui_duis(&party);
        let hub = hex::eui_duis(&p.hub);
        inv += &format!("{hub},CHF,Commissioned,106C,433100AC,,\n");
        let (esme, mpan) = (hex::eui_duis(&p.esme.0), &p.esme.1);
        inv += &format!("{esme},ESME,Commissioned,EE01,010A030B,{mpan},{hub}\n");
        reg += &format!("{mpan},electricity,IS,{party},2000-01-01,\n");
        if let Some((gsme, mprn)) = &p.gsme {
            let gsme = hex::eui_duis(gsme);
            inv += &format!("{gsme},GSME,Commissioned,EE01,020A030B,{mprn},{hub}\n");
            reg += &format!("{mprn},gas,GS,{party},2000-01-01,\n");
        }
    }
    let inventory = dir.join("inventory.csv");
    let registration = dir.join("registration.csv");
    std::fs::write(&inventory, inv).map_err(|e| err(&inventory, e))?;
    std::fs::write(&registration, reg).map_err(|e| err(&registration, e))?;
    Ok(Generated {
        inventory,
        registration,
        premises: premises.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulated_premises_are_read_from_the_start_up_lines() {
        let text = "inventory x: 3 rows\n\
            emulated meters: 2 premises (10 inventory rows new), trusting supplier 90-B3-D5-1F-40-01-00-00 and network operator 90-B3-D5-1F-40-04-00-00\n\
            \x20 premises 1: hub 00-DB-55-00-00-00-00-00, ESME 00-DB-55-00-00-00-00-01 (MPAN 1900000000001), GSME 00-DB-55-00-00-00-00-02 (MPRN 9000000001)\n\
            \x20 premises 2: hub 00-DB-55-00-00-00-00-10, ESME 00-DB-55-00-00-00-00-11 (MPAN 1900000000002), GSME 00-DB-55-00-00-00-00-12 (MPRN 9000000002)\n\
            DUIS listening on https://127.0.0.1:8079\n";
        let (supplier, premises) = parse_emulated(text);
        let supplier = supplier.unwrap();
        assert_eq!(hex::eui_duis(&supplier), "90-B3-D5-1F-40-01-00-00");
        assert_eq!(premises.len(), 2);
        assert_eq!(hex::eui_duis(&premises[1].hub), "00-DB-55-00-00-00-00-10");
        assert_eq!(premises[1].esme.1, "1900000000002");
        assert_eq!(premises[0].gsme.as_ref().unwrap().1, "9000000001");
        let dir = std::env::temp_dir().join(format!("loadgen-emulated-{}", std::process::id()));
        let g = write_emulated(&dir, Some(supplier), &premises).unwrap();
        let devices = read_inventory(&g.inventory).unwrap();
        assert_eq!(devices.len(), 6);
        let reg = read_registration(&g.registration).unwrap();
        // An import supplier only addresses the electricity side (and the hubs).
        let t = Targets::new(
            &devices,
            Some(&reg),
            &[(supplier, vec![Role::ImportSupplier])],
            Skew::Uniform,
        );
        let mut rng = Rng::new(1);
        assert!(t.has(0, &[DeviceKind::Esme]) && t.has(0, &[DeviceKind::Chf]));
        assert!(!t.has(0, &[DeviceKind::Gsme]), "no GS role");
        assert!(t.pick(0, &[DeviceKind::Esme], &mut rng).is_some());
        assert!(parse_emulated("DUIS listening on x\n").1.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn generated_files_split_devices_between_their_users() {
        let dir = std::env::temp_dir().join(format!("loadgen-targets-{}", std::process::id()));
        let users = [load_test_user_id(1), load_test_user_id(2)];
        let g = generate(&dir, &users, 3).unwrap();
        let users: Vec<([u8; 8], Vec<Role>)> = users
            .iter()
            .map(|u| (*u, vec![Role::ImportSupplier, Role::GasSupplier]))
            .collect();
        let devices = read_inventory(&g.inventory).unwrap();
        assert_eq!(devices.len(), 2 * 3 * 4);
        let reg = read_registration(&g.registration).unwrap();
        let t = Targets::new(&devices, Some(&reg), &users, Skew::Uniform);
        assert_eq!(t.hubs(), 6);
        assert_eq!(t.devices(), 24);
        let mut rng = Rng::new(3);
        for u in 0..2 {
            for kind in [
                DeviceKind::Esme,
                DeviceKind::Gsme,
                DeviceKind::Gpf,
                DeviceKind::Chf,
            ] {
                let d = t.pick(u, &[kind], &mut rng).unwrap();
                // The second and third bytes carry the User's position.
                assert_eq!(d[3], u as u8 + 1, "{kind:?} for User {u}");
                assert_eq!(d[7] & 0xf0, 0xa0);
            }
            assert!(t.pick(u, &[DeviceKind::Ppmid], &mut rng).is_none());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn premises_with_suppliers_of_their_own_register_each_to_its_supplier() {
        let text = "emulated meters: 2 premises (10 inventory rows new), each trusting the supplier listed with it\n\
            \x20 premises 1: hub 00-DB-55-00-00-00-00-00, ESME 00-DB-55-00-00-00-00-01 (MPAN 1900000000001), GSME 00-DB-55-00-00-00-00-02 (MPRN 9000000001), supplier 90-B3-D5-1F-50-00-00-01\n\
            \x20 premises 2: hub 00-DB-55-00-00-00-00-10, ESME 00-DB-55-00-00-00-00-11 (MPAN 1900000000002), GSME 00-DB-55-00-00-00-00-12 (MPRN 9000000002), supplier 90-B3-D5-1F-50-00-00-02\n";
        let (supplier, premises) = parse_emulated(text);
        assert_eq!(supplier, None);
        assert_eq!(
            premises[1].supplier.map(|s| hex::eui_duis(&s)).as_deref(),
            Some("90-B3-D5-1F-50-00-00-02")
        );
        let dir = std::env::temp_dir().join(format!("loadgen-emulated-own-{}", std::process::id()));
        let g = write_emulated(&dir, None, &premises).unwrap();
        let reg = std::fs::read_to_string(&g.registration).unwrap();
        assert!(
            reg.contains("1900000000001,electricity,IS,90-B3-D5-1F-50-00-00-01"),
            "{reg}"
        );
        assert!(
            reg.contains("9000000002,gas,GS,90-B3-D5-1F-50-00-00-02"),
            "{reg}"
        );
        // Without a supplier anywhere, nothing is written.
        let mut orphan = premises.clone();
        orphan[0].supplier = None;
        assert!(write_emulated(&dir, None, &orphan).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
