//! The adaptive width scheduler: its cost table and its decision, the
//! behaviour the RTL must match.
//!
//! At an inference boundary (a start) in automatic mode the scheduler picks
//! an **operating point** (a width) from a table the compiler emits. The
//! table lists the points in order of preference: most accurate first (by
//! the model's measured accuracy, the wider on a tie; the widest first when
//! the model records none). Each entry holds the point's cycles, its energy
//! per inference in units of `2^energy_shift` pJ (rounded up, so a point
//! that fits the budget in the table fits it in the model) and the most
//! sub-arrays it enables at once. The scheduler takes the first entry that
//! meets every constraint — cycles <= deadline, energy <= budget, arrays <=
//! cap, where 0 means "no constraint" — and else the cheapest entry (least
//! energy, the earlier on a tie) with the violation flag and the reasons.
//! A choice is made only at a start and holds for the whole inference.

use serde::Serialize;

/// One operating point of the cost table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Index into the model's widths.
    pub width: usize,
    /// Engine cycles of one inference at this width (the cycle model's).
    pub cycles: u32,
    /// Energy per inference in units of `2^energy_shift` pJ, rounded up.
    pub energy: u32,
    /// The most sub-arrays enabled at once.
    pub arrays: u32,
}

/// The cost table in preference order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    pub entries: Vec<Entry>,
    /// Energy unit: `2^energy_shift` pJ.
    pub energy_shift: u32,
    /// Position (in `entries`) of the cheapest entry.
    pub cheapest: usize,
}

/// Largest energy value an entry holds: the register is 32 bits and the
/// comparison unsigned, so 31 bits leave headroom.
const ENERGY_MAX: f64 = (1u64 << 31) as f64;

impl Table {
    /// Builds the table from, per width, `(cycles, energy in pJ, arrays,
    /// accuracy)`: the entries in preference order, the smallest energy
    /// unit that fits every point in 31 bits.
    pub fn new(points: &[(u64, f64, usize, Option<f64>)]) -> Table {
        let max_pj = points.iter().map(|p| p.1).fold(0.0, f64::max);
        let mut shift = 0u32;
        while max_pj / 2f64.powi(shift as i32) >= ENERGY_MAX {
            shift += 1;
        }
        let unit = 2f64.powi(shift as i32);
        let mut order: Vec<usize> = (0..points.len()).collect();
        // most accurate first, the wider on a tie (widths ascend in a model)
        order.sort_by(|&a, &b| {
            let acc = |i: usize| points[i].3.unwrap_or(0.0);
            acc(b).total_cmp(&acc(a)).then(b.cmp(&a))
        });
        let entries: Vec<Entry> = order
            .iter()
            .map(|&i| Entry {
                width: i,
                cycles: u32::try_from(points[i].0).unwrap_or(u32::MAX),
                energy: (points[i].1 / unit).ceil() as u32,
                arrays: points[i].2 as u32,
            })
            .collect();
        let cheapest = (0..entries.len())
            .min_by_key(|&k| (entries[k].energy, k))
            .unwrap_or(0);
        Table {
            entries,
            energy_shift: shift,
            cheapest,
        }
    }
}

/// The constraints of the next inference; 0 leaves one unconstrained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Constraints {
    /// Latency deadline in cycles.
    pub deadline: u32,
    /// Energy budget in the table's unit.
    pub budget: u32,
    /// Most sub-arrays enabled at once.
    pub cap: u32,
}

/// Fields of one cost-table word, 32 bits each, least significant first:
/// the image line and the `SCHED_TABLE` window hold them in this order.
pub const FIELDS: [&str; 4] = ["width", "cycles", "energy", "arrays"];

/// Name of the cost-table image in a generated directory.
pub const IMAGE_FILE: &str = "capim_sched.memh";

impl Entry {
    /// The four fields in [`FIELDS`] order.
    pub fn fields(&self) -> [u32; 4] {
        [self.width as u32, self.cycles, self.energy, self.arrays]
    }
}

impl Table {
    /// The ROM image: one line of 32 hex digits per entry, in preference
    /// order, field 3 (`arrays`) first.
    pub fn memh(&self) -> String {
        self.entries
            .iter()
            .map(|e| {
                let f = e.fields();
                format!("{:08x}{:08x}{:08x}{:08x}\n", f[3], f[2], f[1], f[0])
            })
            .collect()
    }

    /// The `SCHED_INFO` register: `{cheapest[23:16], energy_shift[15:8],
    /// entries[7:0]}`.
    pub fn info_value(&self) -> u32 {
        (self.cheapest as u32) << 16 | self.energy_shift << 8 | self.entries.len() as u32
    }
}

/// The `SCHED_STATUS` register after a start: `{auto[31], entry[23:16],
/// width[15:8], violated[3], why[2:0]}`; in manual mode the entry reads
/// `0xFF` and nothing is violated.
pub fn status_value(auto: bool, width: usize, choice: Option<&Choice>) -> u32 {
    match choice {
        Some(c) if auto => {
            1 << 31
                | (c.entry as u32) << 16
                | (c.width as u32) << 8
                | (c.why.any() as u32) << 3
                | c.why.bits()
        }
        _ => 0xFF << 16 | (width as u32) << 8,
    }
}

/// Which constraints the chosen point violates (all false when it meets them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Why {
    pub deadline: bool,
    pub budget: bool,
    pub cap: bool,
}

impl Why {
    /// `{cap, budget, deadline}` as the `SCHED_STATUS` register's bits 2..0.
    pub fn bits(self) -> u32 {
        (self.cap as u32) << 2 | (self.budget as u32) << 1 | self.deadline as u32
    }
    pub fn any(self) -> bool {
        self.deadline || self.budget || self.cap
    }
}

/// What the scheduler decided for one inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Choice {
    /// Index into the model's widths.
    pub width: usize,
    /// Position of the entry in the table.
    pub entry: usize,
    /// The constraints it violates (none when a point met them all).
    pub why: Why,
}

/// The constraints entry `e` violates under `c`.
pub fn violations(e: &Entry, c: &Constraints) -> Why {
    Why {
        deadline: c.deadline != 0 && e.cycles > c.deadline,
        budget: c.budget != 0 && e.energy > c.budget,
        cap: c.cap != 0 && e.arrays > c.cap,
    }
}

/// The scheduler's decision for constraints `c` (see the module documentation).
pub fn choose(t: &Table, c: &Constraints) -> Choice {
    let pick = |k: usize| Choice {
        width: t.entries[k].width,
        entry: k,
        why: violations(&t.entries[k], c),
    };
    match (0..t.entries.len()).find(|&k| !violations(&t.entries[k], c).any()) {
        Some(k) => pick(k),
        None => pick(t.cheapest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(acc: Option<[f64; 4]>) -> Table {
        let a = |i: usize| acc.map(|v| v[i]);
        Table::new(&[
            (100, 10.0, 2, a(0)),
            (200, 30.0, 4, a(1)),
            (300, 60.0, 8, a(2)),
            (400, 100.0, 8, a(3)),
        ])
    }

    #[test]
    fn widest_first_without_accuracy_and_most_accurate_first_with() {
        let t = table(None);
        let order: Vec<usize> = t.entries.iter().map(|e| e.width).collect();
        assert_eq!(order, [3, 2, 1, 0]);
        assert_eq!(t.entries[t.cheapest].width, 0);
        let t = table(Some([0.80, 0.86, 0.86, 0.85]));
        let order: Vec<usize> = t.entries.iter().map(|e| e.width).collect();
        assert_eq!(order, [2, 1, 3, 0], "ties go to the wider");
    }

    #[test]
    fn picks_the_first_point_that_meets_every_constraint() {
        let t = table(None);
        let none = Constraints::default();
        assert_eq!(choose(&t, &none).width, 3);
        let c = Constraints {
            deadline: 250,
            ..none
        };
        assert_eq!(
            choose(&t, &c),
            Choice {
                width: 1,
                entry: 2,
                why: Why::default()
            }
        );
        let c = Constraints {
            budget: 60,
            cap: 4,
            ..none
        };
        assert_eq!(choose(&t, &c).width, 1);
        // exactly at the limit meets it
        let c = Constraints {
            deadline: 300,
            budget: 60,
            cap: 8,
        };
        assert_eq!(choose(&t, &c).width, 2);
        let c = Constraints {
            deadline: 299,
            budget: 60,
            cap: 8,
        };
        assert_eq!(choose(&t, &c).width, 1);
    }

    #[test]
    fn nothing_fits_gives_the_cheapest_with_the_reasons() {
        let t = table(None);
        let c = Constraints {
            deadline: 50,
            budget: 5,
            cap: 1,
        };
        let ch = choose(&t, &c);
        assert_eq!(ch.width, 0);
        assert_eq!(
            ch.why,
            Why {
                deadline: true,
                budget: true,
                cap: true
            }
        );
        assert_eq!(ch.why.bits(), 0b111);
        let c = Constraints {
            deadline: 50,
            ..Constraints::default()
        };
        assert_eq!(choose(&t, &c).why.bits(), 0b001);
    }

    #[test]
    fn image_and_registers_pack_the_fields() {
        let t = table(None);
        let first = t.memh().lines().next().unwrap().to_string();
        // widest first: width 3, 400 cycles, 100 pJ, 8 arrays
        assert_eq!(first, "00000008000000640000019000000003");
        assert_eq!(t.memh().lines().count(), 4);
        assert_eq!(t.info_value(), 3 << 16 | 4);
        let c = choose(
            &t,
            &Constraints {
                deadline: 50,
                budget: 0,
                cap: 0,
            },
        );
        assert_eq!(status_value(true, 0, Some(&c)), 1 << 31 | 3 << 16 | 0b1001);
        assert_eq!(status_value(false, 2, Some(&c)), 0xFF << 16 | 2 << 8);
    }

    #[test]
    fn energy_is_rounded_up_into_31_bits() {
        let t = Table::new(&[(1, 3.5e9, 1, None), (2, 7.0e9, 1, None)]);
        assert_eq!(t.energy_shift, 2);
        assert!(t.entries.iter().all(|e| e.energy < 1 << 31));
        // 7e9 / 4 = 1.75e9 exactly; 3.5e9 / 4 = 875e6
        assert_eq!(t.entries[0].energy, 1_750_000_000);
        let t = Table::new(&[(1, 10.2, 1, None)]);
        assert_eq!((t.energy_shift, t.entries[0].energy), (0, 11));
    }
}
